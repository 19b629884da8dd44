// From TRELLIS's stored Gaussian parameters to the rasterizer's activated scene, and the render
// settings TRELLIS's GaussianRenderer uses (mip-splatting 2D filter 0.1, near 0.8, far 1.6).
import LatticeTensor

extension Gaussian {
    /// The activated Gaussians as a `GaussianScene` (positions, w-first unit quaternions, scales,
    /// opacities, SH coefficients [N, K, 3]).
    public func scene() throws -> GaussianScene {
        try withNoGrad {
            let features = getFeatures.contiguous()  // [N, K, 3]
            return try GaussianScene(
                means: getXYZ.contiguous().toFloats(), quats: getRotation.contiguous().toFloats(),
                scales: getScaling.contiguous().toFloats(),
                opacities: getOpacity.contiguous().toFloats(), shCoefficients: features.toFloats(),
                shDegree: shDegree)
        }
    }
}

extension SplatSettings {
    /// TRELLIS's `GaussianRenderer` defaults: antialiased (mip-splatting) with kernel size 0.1,
    /// near 0.8 and far 1.6 around the radius-2 cameras.
    public static var trellis: SplatSettings {
        var s = SplatSettings()
        s.mode = .antialiased
        s.eps2d = 0.1
        s.nearPlane = 0.8
        s.farPlane = 1.6
        return s
    }
}
