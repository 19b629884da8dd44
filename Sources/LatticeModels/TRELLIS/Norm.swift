// microsoft/TRELLIS@6b0d647:trellis/modules/norm.py (ChannelLayerNorm32, GroupNorm32; LayerNorm32
// is LatticeNN's LayerNorm, which always computes in float32).
import LatticeNN
import LatticeTensor

extension TRELLIS {
    /// LayerNorm over the channel axis of [N, C, *] (eps 1e-5, affine), in float32.
    public final class ChannelLayerNorm32: Module, @unchecked Sendable {
        public let weight: Parameter
        public let bias: Parameter
        public let eps: Float

        public init(_ channels: Int, eps: Float = 1e-5) {
            weight = Parameter(Tensor(full: [channels], value: 1))
            bias = Parameter(Tensor(zeros: [channels]))
            self.eps = eps
            super.init()
            register("weight", weight)
            register("bias", bias)
        }

        /// `x`: [N, C, *] -> same shape.
        public func callAsFunction(_ x: Tensor) -> Tensor {
            let r = x.rank
            let toLast = [0] + Array(2..<r) + [1]  // [N, *, C]
            let back = [0, r - 1] + Array(1..<(r - 1))  // [N, C, *]
            return layerNorm(
                x.float().permute(toLast), weight: weight.value, bias: bias.value, eps: eps
            )
            .permute(back)
        }
    }

    /// GroupNorm with 32 groups (eps 1e-5, affine), in float32.
    public final class GroupNorm32: Module, @unchecked Sendable {
        public let weight: Parameter
        public let bias: Parameter

        public init(_ channels: Int) {
            weight = Parameter(Tensor(full: [channels], value: 1))
            bias = Parameter(Tensor(zeros: [channels]))
            super.init()
            register("weight", weight)
            register("bias", bias)
        }

        public func callAsFunction(_ x: Tensor) -> Tensor {
            groupNorm(x.float(), groups: 32, weight: weight.value, bias: bias.value, eps: 1e-5)
        }
    }
}
