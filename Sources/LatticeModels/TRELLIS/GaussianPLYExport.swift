// microsoft/TRELLIS@6b0d647:trellis/representations/gaussian/gaussian_model.py (save_ply,
// load_ply): the bridge between LatticeRender's Gaussian and LatticeIO's GaussianPLY, which only
// meet here. Upstream's load_ply references an undefined variable and multiplies the rotation on
// the wrong side; this is the inverse of save_ply it intends.
import Foundation
import LatticeIO
import LatticeRender
import LatticeTensor

extension Gaussian {
    /// Upstream `save_ply`'s values: get_xyz, `_features_dc` (and `_features_rest`), logit of
    /// get_opacity, log of get_scaling, and `_rotation` + [1, 0, 0, 0], through `transform`.
    public func plyData(transform: [[Double]]? = GaussianPLY.defaultTransform) throws
        -> GaussianPLY
    {
        try validate()
        return try withNoGrad {
            let m = count
            var rest: [Float] = []
            var k = 0
            if let featuresRest {
                k = featuresRest.shape[1] * 3
                rest = featuresRest.transpose(1, 2).contiguous().toFloats()  // [M, 3, K/3]
            }
            let rot = (rotation + Tensor([1, 0, 0, 0], shape: [1, 4])).toFloats()  // [M, 4]
            return try GaussianPLY.fromActivated(
                xyz: getXYZ.toFloats(),
                featuresDC: featuresDC.transpose(1, 2).contiguous().reshape([m, 3]).toFloats(),
                featuresRest: rest, featuresRestCount: k, opacities: getOpacity.toFloats(),
                scales: getScaling.toFloats(), rotations: rot, transform: transform)
        }
    }

    /// Upstream `save_ply`: writes a binary 3DGS PLY atomically.
    public func savePLY(to url: URL, transform: [[Double]]? = GaussianPLY.defaultTransform) throws {
        try plyData(transform: transform).write(to: url)
    }

    /// Upstream `load_ply` (its intent): fills the stored parameters from a 3DGS PLY; SH degree
    /// comes from the file's f_rest count and must not exceed this set's `shDegree`.
    public func load(
        _ ply: GaussianPLY, transform: [[Double]]? = GaussianPLY.defaultTransform,
        source: String = "PLY"
    )
        throws
    {
        let n = ply.count
        guard ply.shDegree <= shDegree else {
            throw LatticeError(
                .unsupported,
                "\(source): SH degree \(ply.shDegree) in the file, but this Gaussian set has degree \(shDegree)"
            )
        }
        let a = ply.activated(transform: transform)
        setXYZ(Tensor(a.xyz, shape: [n, 3]))
        featuresDC = Tensor(ply.featuresDC, shape: [n, 1, 3])
        if ply.featuresRestCount > 0 {
            let k = ply.featuresRestCount / 3
            featuresRest = Tensor(ply.featuresRest, shape: [n, 3, k]).transpose(1, 2).contiguous()  // [N, K, 3]
        } else {
            featuresRest = nil
        }
        setOpacity(Tensor(a.opacities, shape: [n, 1]))
        setScaling(Tensor(a.scales, shape: [n, 3]))
        setRotation(Tensor(a.rotations, shape: [n, 4]))
    }

    /// Reads `url` into this set (upstream `load_ply`).
    public func loadPLY(from url: URL, transform: [[Double]]? = GaussianPLY.defaultTransform)
        throws
    {
        try load(try GaussianPLY.read(from: url), transform: transform, source: url.path)
    }
}
