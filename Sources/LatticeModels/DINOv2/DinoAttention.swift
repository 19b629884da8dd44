// facebookresearch/dinov2@b8931f7:dinov2/layers/attention.py (MemEffAttention without xformers
// is this same math through scaled_dot_product_attention).
import LatticeNN
import LatticeTensor

extension DINOv2 {
    /// Multi-head self-attention with a fused `qkv` projection and output `proj`.
    public final class Attention: Module, @unchecked Sendable {
        public let numHeads: Int
        public let qkv: Linear
        public let proj: Linear

        public init(dim: Int, numHeads: Int, qkvBias: Bool = true, projBias: Bool = true) {
            precondition(
                dim % numHeads == 0, "Attention: dim \(dim) not divisible by \(numHeads) heads")
            self.numHeads = numHeads
            qkv = Linear(dim, 3 * dim, bias: qkvBias)
            proj = Linear(dim, dim, bias: projBias)
            super.init()
            register("qkv", qkv)
            register("proj", proj)
        }

        /// `x`: [B, N, C] -> [B, N, C].
        public func callAsFunction(_ x: Tensor) -> Tensor {
            let (b, n, c) = (x.shape[0], x.shape[1], x.shape[2])
            let h = numHeads
            let d = c / h
            let packed = qkv(x).reshape([b, n, 3, h, d]).permute([2, 0, 3, 1, 4])  // [3, B, H, N, D]
            let q = packed.select(0, 0)  // [B, H, N, D]
            let k = packed.select(0, 1)
            let v = packed.select(0, 2)
            let o = scaledDotProductAttention(q, k, v)  // [B, H, N, D], scale 1/sqrt(D)
            return proj(o.transpose(1, 2).reshape([b, n, c]))  // [B, N, C]
        }
    }
}
