// facebookresearch/dinov2@b8931f7:dinov2/layers/layer_scale.py
import LatticeNN
import LatticeTensor

extension DINOv2 {
    /// Per-channel residual scaling `x * gamma`.
    public final class LayerScale: Module, @unchecked Sendable {
        public let gamma: Parameter

        public init(_ dim: Int, initValues: Float) {
            gamma = Parameter(Tensor(full: [dim], value: initValues))
            super.init()
            register("gamma", gamma)
        }

        public func callAsFunction(_ x: Tensor) -> Tensor { x * gamma.value }
    }
}
