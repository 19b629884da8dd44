// VGGT camera conventions, following facebookresearch/vggt@44b3afb vggt/utils/pose_enc.py,
// rotation.py and geometry.py: the 9-D `absT_quaR_FoV` pose encoding and depth unprojection.
// Quaternions here are (x, y, z, w), scalar last, as in VGGT.
import Foundation
import LatticeTensor

/// A rotation matrix from a quaternion (x, y, z, w); non-unit quaternions still give rotations
/// (the scale is 2 / |q|²). Row-major 3x3 in Double.
public func quaternionToMatrix(_ q: SIMD4<Double>) -> [Double] {
    let (i, j, k, r) = (q.x, q.y, q.z, q.w)
    let s = 2.0 / (i * i + j * j + k * k + r * r)
    return [
        1 - s * (j * j + k * k), s * (i * j - k * r), s * (i * k + j * r),
        s * (i * j + k * r), 1 - s * (i * i + k * k), s * (j * k - i * r),
        s * (i * k - j * r), s * (j * k + i * r), 1 - s * (i * i + j * j),
    ]
}

/// The unit quaternion (x, y, z, w) of a rotation matrix (row-major 3x3), with w >= 0: the
/// PyTorch3D method (best-conditioned of four candidates), as VGGT `mat_to_quat`.
public func matrixToQuaternion(_ m: [Double]) -> SIMD4<Double> {
    let (m00, m01, m02) = (m[0], m[1], m[2])
    let (m10, m11, m12) = (m[3], m[4], m[5])
    let (m20, m21, m22) = (m[6], m[7], m[8])
    let qAbs = [
        1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22,
    ].map { $0 > 0 ? $0.squareRoot() : 0 }
    // Candidate rows in (w, x, y, z) order; row i is scaled by 2 * qAbs[i].
    let candidates: [[Double]] = [
        [qAbs[0] * qAbs[0], m21 - m12, m02 - m20, m10 - m01],
        [m21 - m12, qAbs[1] * qAbs[1], m10 + m01, m02 + m20],
        [m02 - m20, m10 + m01, qAbs[2] * qAbs[2], m12 + m21],
        [m10 - m01, m20 + m02, m21 + m12, qAbs[3] * qAbs[3]],
    ]
    var best = 0
    for i in 1..<4 where qAbs[i] > qAbs[best] { best = i }
    let denominator = 2 * max(qAbs[best], 0.1)
    let c = candidates[best].map { $0 / denominator }
    var q = SIMD4<Double>(c[1], c[2], c[3], c[0])
    if q.w < 0 { q = -q }
    return q
}

/// A VGGT camera: world-to-camera [R | t] (3x4 row-major) and intrinsics in pixels (3x3).
public struct VGGTCamera: Sendable, Equatable {
    public var extrinsics: [Double]
    public var intrinsics: [Double]

    /// A camera from 12 extrinsic and 9 intrinsic values (row-major).
    public init(extrinsics: [Double], intrinsics: [Double]) {
        precondition(
            extrinsics.count == 12 && intrinsics.count == 9,
            "VGGTCamera: \(extrinsics.count) extrinsics (12) and \(intrinsics.count) intrinsics (9)"
        )
        self.extrinsics = extrinsics
        self.intrinsics = intrinsics
    }
}

/// Decodes one 9-D pose encoding [tx, ty, tz, qx, qy, qz, qw, fov_h, fov_w] for an image of
/// `imageSize` (height, width) pixels (VGGT `pose_encoding_to_extri_intri`).
public func poseEncodingToExtrinsicsIntrinsics(
    _ encoding: [Double], imageSize: (height: Int, width: Int)
) throws -> VGGTCamera {
    guard encoding.count == 9 else {
        throw LatticeError(
            .shapeMismatch, "pose encoding has \(encoding.count) values, expected 9 (absT_quaR_FoV)"
        )
    }
    let q = SIMD4(encoding[3], encoding[4], encoding[5], encoding[6])
    guard (q * q).sum() > 0 else {
        throw LatticeError(.invalidArgument, "pose encoding has a zero quaternion: \(encoding)")
    }
    let r = quaternionToMatrix(q)
    let extrinsics = [
        r[0], r[1], r[2], encoding[0], r[3], r[4], r[5], encoding[1], r[6], r[7], r[8], encoding[2],
    ]
    let h = Double(imageSize.height)
    let w = Double(imageSize.width)
    let fy = (h / 2) / tan(encoding[7] / 2)
    let fx = (w / 2) / tan(encoding[8] / 2)
    return VGGTCamera(extrinsics: extrinsics, intrinsics: [fx, 0, w / 2, 0, fy, h / 2, 0, 0, 1])
}

/// Encodes a camera as [t, quaternion (x, y, z, w), fov_h, fov_w] (VGGT
/// `extri_intri_to_pose_encoding`); the quaternion comes back unit-length with w >= 0.
public func extrinsicsIntrinsicsToPoseEncoding(
    _ camera: VGGTCamera, imageSize: (height: Int, width: Int)
) -> [Double] {
    let e = camera.extrinsics
    let q = matrixToQuaternion([e[0], e[1], e[2], e[4], e[5], e[6], e[8], e[9], e[10]])
    let fovH = 2 * atan((Double(imageSize.height) / 2) / camera.intrinsics[4])
    let fovW = 2 * atan((Double(imageSize.width) / 2) / camera.intrinsics[0])
    return [e[3], e[7], e[11], q.x, q.y, q.z, q.w, fovH, fovW]
}

/// World points [H, W, 3] (float64, row-major) of one depth map [H, W] seen by a camera with
/// world-to-camera `extrinsics` (3x4) and pixel `intrinsics` (3x3), as VGGT
/// `unproject_depth_map_to_point_map`: pixel indices without +0.5, camera points rounded to
/// float32 as upstream, then the float64 camera-to-world transform. Zero depths are kept.
public func unprojectDepthMapToPointMap(
    depth: [Float], height: Int, width: Int, extrinsics: [Double], intrinsics: [Double]
) throws -> [Double] {
    guard depth.count == height * width else {
        throw LatticeError(
            .shapeMismatch, "depth has \(depth.count) values, expected \(height)x\(width)")
    }
    let fx = intrinsics[0]
    let fy = intrinsics[4]
    let cx = intrinsics[2]
    let cy = intrinsics[5]
    guard fx != 0, fy != 0, fx.isFinite, fy.isFinite else {
        throw LatticeError(.invalidArgument, "unproject: degenerate intrinsics \(intrinsics)")
    }
    let e = extrinsics
    // Camera-to-world: [Rᵀ | -Rᵀ t].
    let rt = [e[0], e[4], e[8], e[1], e[5], e[9], e[2], e[6], e[10]]
    let t = [e[3], e[7], e[11]]
    var tc = [Double](repeating: 0, count: 3)
    for i in 0..<3 { tc[i] = -(rt[i * 3] * t[0] + rt[i * 3 + 1] * t[1] + rt[i * 3 + 2] * t[2]) }
    var out = [Double](repeating: 0, count: height * width * 3)
    for v in 0..<height {
        for u in 0..<width {
            let d = Double(depth[v * width + u])
            let cam = [
                Double(Float((Double(u) - cx) * d / fx)), Double(Float((Double(v) - cy) * d / fy)),
                Double(Float(d)),
            ]
            let o = (v * width + u) * 3
            for i in 0..<3 {
                out[o + i] =
                    cam[0] * rt[i * 3] + cam[1] * rt[i * 3 + 1] + cam[2] * rt[i * 3 + 2] + tc[i]
            }
        }
    }
    return out
}
