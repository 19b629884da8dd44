// facebookresearch/dinov2@b8931f7:dinov2/layers/block.py (NestedTensorBlock on plain tensors,
// inference: drop-path is the identity).
import LatticeNN
import LatticeTensor

extension DINOv2 {
    /// Pre-LN transformer block: `x += ls1(attn(norm1(x))); x += ls2(mlp(norm2(x)))`.
    public final class Block: Module, @unchecked Sendable {
        public let norm1: LayerNorm
        public let attn: Attention
        /// nil when `init_values` is None (upstream uses nn.Identity, no `gamma` key).
        public let ls1: LayerScale?
        public let norm2: LayerNorm
        public let mlp: Mlp
        public let ls2: LayerScale?

        public init(
            dim: Int, numHeads: Int, mlpRatio: Double, qkvBias: Bool, projBias: Bool,
            ffnBias: Bool, initValues: Float?
        ) {
            norm1 = LayerNorm(dim, eps: 1e-6, affine: true)
            attn = Attention(dim: dim, numHeads: numHeads, qkvBias: qkvBias, projBias: projBias)
            ls1 = initValues.map { LayerScale(dim, initValues: $0) }
            norm2 = LayerNorm(dim, eps: 1e-6, affine: true)
            mlp = Mlp(inFeatures: dim, hiddenFeatures: Int(Double(dim) * mlpRatio), bias: ffnBias)
            ls2 = initValues.map { LayerScale(dim, initValues: $0) }
            super.init()
            register("norm1", norm1)
            register("attn", attn)
            if let ls1 { register("ls1", ls1) }
            register("norm2", norm2)
            register("mlp", mlp)
            if let ls2 { register("ls2", ls2) }
        }

        /// `x`: [B, N, C] -> [B, N, C].
        public func callAsFunction(_ x: Tensor) -> Tensor {
            var a = attn(norm1(x))
            if let ls1 { a = ls1(a) }
            let h = x + a
            var m = mlp(norm2(h))
            if let ls2 { m = ls2(m) }
            return h + m
        }
    }
}
