// microsoft/TRELLIS@6b0d647:trellis/representations/gaussian/gaussian_model.py (Gaussian): the
// stored (pre-activation) 3D Gaussian parameters, their activations with TRELLIS's biases and 3D
// filter, and the inverse setters. PLY files are LatticeIO's (GaussianPLY); the save_ply /
// load_ply bridge lives in LatticeModels, which sees both.
import Foundation
import LatticeTensor

/// A set of 3D Gaussians as TRELLIS stores them: positions normalised to the aabb, SH colour
/// coefficients, and scale / rotation / opacity before their activations. All tensors are
/// float32 and autodiff flows through the activations.
public final class Gaussian: @unchecked Sendable {
    /// How `_scaling` becomes a scale.
    public enum ScalingActivation: String, Sendable, Codable {
        case exp, softplus
    }

    /// [x0, y0, z0, sx, sy, sz]: world = stored · size + origin.
    public let aabb: [Float]
    public let shDegree: Int
    /// Upstream `mininum_kernel_size` (the 3D filter added in quadrature to every scale).
    public let minimumKernelSize: Float
    /// Activated scale the zero `_scaling` maps to.
    public let scalingBias: Float
    /// Activated opacity the zero `_opacity` maps to.
    public let opacityBias: Float
    public let scalingActivation: ScalingActivation

    /// Inverse-activated `scalingBias` (upstream `scale_bias`), computed in float32.
    public let scaleBiasRaw: Float
    /// `logit(opacityBias)` (upstream's overwritten `opacity_bias`), computed in float32.
    public let opacityBiasRaw: Float

    /// Upstream `_xyz` [M, 3] in aabb-normalised units.
    public var xyz: Tensor
    /// Upstream `_features_dc` [M, 1, 3].
    public var featuresDC: Tensor
    /// Upstream `_features_rest` [M, (d+1)²-1, 3], or nil (degree 0).
    public var featuresRest: Tensor?
    /// Upstream `_scaling` [M, 3] (pre-activation, without the bias).
    public var scaling: Tensor
    /// Upstream `_rotation` [M, 4] (w, x, y, z) without the [1, 0, 0, 0] bias.
    public var rotation: Tensor
    /// Upstream `_opacity` [M, 1] (pre-sigmoid, without the bias).
    public var opacity: Tensor

    /// An empty set with upstream's constructor arguments (default `scaling_bias` 0.01,
    /// `opacity_bias` 0.1, `exp` scaling).
    public init(
        aabb: [Float], shDegree: Int = 0, minimumKernelSize: Float = 0, scalingBias: Float = 0.01,
        opacityBias: Float = 0.1, scalingActivation: ScalingActivation = .exp
    ) throws {
        guard aabb.count == 6 else {
            throw LatticeError(.invalidArgument, "Gaussian: aabb needs 6 values, got \(aabb.count)")
        }
        guard scalingBias > 0, opacityBias > 0, opacityBias < 1 else {
            throw LatticeError(
                .invalidArgument,
                "Gaussian: scaling_bias \(scalingBias) must be > 0 and opacity_bias \(opacityBias) in (0, 1)"
            )
        }
        self.aabb = aabb
        self.shDegree = shDegree
        self.minimumKernelSize = minimumKernelSize
        self.scalingBias = scalingBias
        self.opacityBias = opacityBias
        self.scalingActivation = scalingActivation
        scaleBiasRaw = Gaussian.inverseScaling(scalingBias, scalingActivation)
        opacityBiasRaw = Foundation.log(opacityBias / (1 - opacityBias))
        xyz = Tensor(zeros: [0, 3])
        featuresDC = Tensor(zeros: [0, 1, 3])
        featuresRest = nil
        scaling = Tensor(zeros: [0, 3])
        rotation = Tensor(zeros: [0, 4])
        opacity = Tensor(zeros: [0, 1])
    }

    /// Number of Gaussians M.
    public var count: Int { xyz.shape[0] }

    /// Inverse of the scaling activation in float32 (softplus⁻¹(y) = y + log(-expm1(-y))).
    public static func inverseScaling(_ y: Float, _ activation: ScalingActivation) -> Float {
        switch activation {
        case .exp: return Foundation.log(y)
        case .softplus: return y + Foundation.log(-Foundation.expm1(-y))
        }
    }

    /// `get_xyz`: world positions [M, 3] = `_xyz` · aabb size + aabb origin.
    public var getXYZ: Tensor {
        xyz * Tensor(Array(aabb[3..<6]), shape: [1, 3]) + Tensor(Array(aabb[0..<3]), shape: [1, 3])
    }

    /// `get_scaling`: sqrt(act(`_scaling` + bias)² + minimum_kernel_size²) [M, 3].
    public var getScaling: Tensor {
        let s = scaling + scaleBiasRaw
        let a = scalingActivation == .exp ? s.exp() : s.softplus()
        // Upstream adds the Python double k² to a float32 tensor: k² rounds to float32.
        let k2 = Float(Double(minimumKernelSize) * Double(minimumKernelSize))
        return (a.square() + k2).sqrt()
    }

    /// `get_rotation`: normalize(`_rotation` + [1, 0, 0, 0]) [M, 4] (w, x, y, z).
    public var getRotation: Tensor {
        let q = rotation + Tensor([1, 0, 0, 0], shape: [1, 4])
        let norm = q.square().sum(axes: [1], keepDims: true).sqrt().clamp(min: 1e-12)  // [M, 1]
        return q / norm
    }

    /// `get_features`: [M, (d+1)², 3] (`_features_dc` then `_features_rest`).
    public var getFeatures: Tensor {
        if let featuresRest { return Tensor.cat([featuresDC, featuresRest], axis: 1) }
        return featuresDC
    }

    /// `get_opacity`: sigmoid(`_opacity` + logit(opacity_bias)) [M, 1].
    public var getOpacity: Tensor { (opacity + opacityBiasRaw).sigmoid() }

    /// `from_xyz`: stores world positions [M, 3].
    public func setXYZ(_ world: Tensor) {
        xyz =
            (world - Tensor(Array(aabb[0..<3]), shape: [1, 3]))
            / Tensor(Array(aabb[3..<6]), shape: [1, 3])
    }

    /// `from_scaling`: stores activated scales [M, 3] (each must exceed the minimum kernel size).
    public func setScaling(_ scales: Tensor) {
        let k2 = Float(Double(minimumKernelSize) * Double(minimumKernelSize))
        let s = (scales.square() - k2).sqrt()
        let inv: Tensor
        switch scalingActivation {
        case .exp: inv = s.log()
        // y + log(-expm1(-y)) = y + log(1 - exp(-y))
        case .softplus: inv = s + (1 - (s * -1).exp()).log()
        }
        scaling = inv - scaleBiasRaw
    }

    /// `from_rotation`: stores quaternions [M, 4] (w, x, y, z).
    public func setRotation(_ q: Tensor) {
        rotation = q - Tensor([1, 0, 0, 0], shape: [1, 4])
    }

    /// `from_opacity`: stores opacities in (0, 1) [M, 1].
    public func setOpacity(_ p: Tensor) {
        opacity = (p / (1 - p)).log() - opacityBiasRaw
    }

    /// Checks that the stored tensors agree on M and their trailing shapes.
    public func validate(source: String = "Gaussian") throws {
        let m = count
        let expected: [(String, Tensor?, [Int])] = [
            ("_xyz", xyz, [m, 3]), ("_features_dc", featuresDC, [m, 1, 3]),
            ("_scaling", scaling, [m, 3]), ("_rotation", rotation, [m, 4]),
            ("_opacity", opacity, [m, 1]),
        ]
        for (name, t, shape) in expected where t?.shape != shape {
            throw LatticeError(
                .shapeMismatch, "\(source): \(name) has shape \(t?.shape ?? []), expected \(shape)")
        }
        if let featuresRest {
            let k = (shDegree + 1) * (shDegree + 1) - 1
            guard featuresRest.shape == [m, k, 3] else {
                throw LatticeError(
                    .shapeMismatch,
                    "\(source): _features_rest has shape \(featuresRest.shape), expected [\(m), \(k), 3] for SH degree \(shDegree)"
                )
            }
        }
    }
}
