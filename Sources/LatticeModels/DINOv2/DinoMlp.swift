// facebookresearch/dinov2@b8931f7:dinov2/layers/mlp.py
import LatticeNN
import LatticeTensor

extension DINOv2 {
    /// `fc2(GELU(fc1(x)))` with exact (erf) GELU.
    public final class Mlp: Module, @unchecked Sendable {
        public let fc1: Linear
        public let fc2: Linear

        public init(inFeatures: Int, hiddenFeatures: Int, bias: Bool = true) {
            fc1 = Linear(inFeatures, hiddenFeatures, bias: bias)
            fc2 = Linear(hiddenFeatures, inFeatures, bias: bias)
            super.init()
            register("fc1", fc1)
            register("fc2", fc2)
        }

        public func callAsFunction(_ x: Tensor) -> Tensor {
            fc2(fc1(x).gelu(approximate: .none))
        }
    }
}
