// Per-Gaussian projection stages of gsplat 1.5.3 (gsplat/cuda/_torch_impl.py): quaternion and
// scale to 3D covariance, world to camera, pinhole EWA projection with the FOV clamp, eps2d blur,
// conic, antialiasing compensation and the per-axis screen radius. Each stage is a pure function
// generic over `SplatReal`, so the same code gives the forward values (Float) and, evaluated on
// `SplatDual`, the derivatives the backward pass needs.
import Foundation
import LatticeGeometry
import LatticeTensor

/// How the 2D covariance is filtered (gsplat `rasterize_mode`).
public enum RasterizeMode: String, Sendable {
    /// cov2d + eps2d I, opacity unchanged.
    case classic
    /// cov2d + eps2d I and opacity scaled by sqrt(det(cov2d) / det(cov2d + eps2d I)) (mip-splatting).
    case antialiased
}

/// Named constants of the gsplat projection.
public enum SplatConstants {
    /// Screen radius in standard deviations per axis (gsplat torch reference).
    public static let radiusSigmas: Float = 3.33
    /// Extra margin of the Jacobian clamp, as a fraction of tan(fov / 2).
    public static let fovClampMargin: Float = 0.3
    /// Lower bound of the blurred 2D determinant.
    public static let minDeterminant: Float = 1e-10
    /// Alpha below which a Gaussian is skipped at a pixel.
    public static let minAlpha: Float = 1.0 / 255.0
    /// Alpha upper clamp.
    public static let maxAlpha: Float = 0.999
    /// Compositing stops (exclusively) once transmittance would drop to this.
    public static let transmittanceStop: Float = 1e-4
}

/// Row-major 3x3 covariance R S Sᵀ Rᵀ of a Gaussian from its (w, x, y, z) quaternion, normalised
/// inside (as F.normalize, eps 1e-12), and its per-axis scales (gsplat `_quat_scale_to_covar_preci`).
@inline(__always)
public func quatScaleToCovariance<T: SplatReal>(quat q: [T], scale s: [T]) -> [T] {
    let r = quatToRotation(q)
    // M = R diag(s); covariance = M Mᵀ.
    var m = [T](repeating: T(0), count: 9)
    for i in 0..<3 { for j in 0..<3 { m[i * 3 + j] = r[i * 3 + j] * s[j] } }
    var c = [T](repeating: T(0), count: 9)
    for i in 0..<3 {
        for j in 0..<3 {
            c[i * 3 + j] = dot3(
                m[i * 3], m[i * 3 + 1], m[i * 3 + 2], m[j * 3], m[j * 3 + 1], m[j * 3 + 2])
        }
    }
    return c
}

/// Row-major rotation of the normalised (w, x, y, z) quaternion `q` (gsplat `_quat_to_rotmat`).
@inline(__always)
public func quatToRotation<T: SplatReal>(_ q: [T]) -> [T] {
    let norm = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]).squareRoot()
    let n = clampMin(norm, T(1e-12))
    let w = q[0] / n
    let x = q[1] / n
    let y = q[2] / n
    let z = q[3] / n
    let one = T(1)
    let two = T(2)
    return [
        one - two * (y * y + z * z), two * (x * y - w * z), two * (x * z + w * y),
        two * (x * y + w * z), one - two * (x * x + z * z), two * (y * z - w * x),
        two * (x * z - w * y), two * (y * z + w * x), one - two * (x * x + y * y),
    ]
}

/// a·b for 3-vectors as torch's small GEMMs run it: a0 b0, then two fused multiply-adds.
@inline(__always)
func dot3<T: SplatReal>(_ a0: T, _ a1: T, _ a2: T, _ b0: T, _ b1: T, _ b2: T) -> T {
    (a0 * b0).fusedAdding(a1, times: b1).fusedAdding(a2, times: b2)
}

/// A pinhole camera for the rasterizer: OpenCV world-to-camera `viewmat` (4x4 row-major) and
/// intrinsics `k` in pixels (3x3 row-major).
public struct SplatCamera: Sendable {
    public var viewmat: [Float]
    public var k: [Float]
    public var width: Int
    public var height: Int

    /// Validates sizes and values; throws naming the bad field (degenerate cameras included).
    public init(viewmat: [Float], k: [Float], width: Int, height: Int) throws {
        guard viewmat.count == 16, k.count == 9 else {
            throw LatticeError(
                .shapeMismatch,
                "SplatCamera: viewmat has \(viewmat.count) values (expected 16), K \(k.count) (expected 9)"
            )
        }
        guard width > 0, height > 0 else {
            throw LatticeError(.invalidArgument, "SplatCamera: image size \(width)x\(height)")
        }
        guard viewmat.allSatisfy(\.isFinite), k.allSatisfy(\.isFinite), k[0] > 0, k[4] > 0 else {
            throw LatticeError(
                .invalidArgument,
                "SplatCamera: non-finite viewmat or intrinsics with fx, fy <= 0 (K = \(k))")
        }
        self.viewmat = viewmat
        self.k = k
        self.width = width
        self.height = height
    }

    /// The camera centre in world space (translation of the inverse viewmat).
    public var center: SIMD3<Float> { cameraCenter(extrinsics: viewmat) }
}

/// One Gaussian projected into one camera (gsplat `_fully_fused_projection` outputs).
public struct ProjectedGaussian<T: SplatReal> {
    /// Pixel-space mean (x, y).
    public var mean2d: (T, T)
    /// Camera-space depth z.
    public var depth: T
    /// Inverse of the blurred 2D covariance as (A, B, C): [[A, B], [B, C]].
    public var conic: (T, T, T)
    /// sqrt(det(cov2d) / det(cov2d + eps2d I)), clamped at 0 (1 when not computed).
    public var compensation: T
    /// Screen radius per axis in pixels; (0, 0) when culled.
    public var radius: (Int32, Int32)
}

/// Projects one Gaussian (world mean, world covariance) into `camera` with gsplat's pinhole EWA
/// math: camera-space mean and covariance, Jacobian with x/z and y/z clamped to the FOV plus
/// `fovClampMargin`, cov2d + eps2d, conic, compensation, and the per-axis radius
/// ceil(3.33 sqrt(cov2d_ii)); culled (radius 0) when det <= 0, depth outside (near, far) or the
/// box misses the image.
@inline(__always)
public func projectGaussian<T: SplatReal>(
    mean: [T], covariance: [T], camera: SplatCamera, eps2d: Float, nearPlane: Float,
    farPlane: Float, computeCompensation: Bool
) -> ProjectedGaussian<T> {
    let v = camera.viewmat
    // World to camera: mc = R m + t, Σc = R Σ Rᵀ.
    var mc = [T](repeating: T(0), count: 3)
    var rs = [T](repeating: T(0), count: 9)
    for i in 0..<3 {
        let r0 = T(v[i * 4])
        let r1 = T(v[i * 4 + 1])
        let r2 = T(v[i * 4 + 2])
        // torch's einsum runs this as a GEMM with fused multiply-adds; matching it keeps depths
        // (and so tile sort keys) bit-identical.
        mc[i] =
            (r0 * mean[0]).fusedAdding(r1, times: mean[1]).fusedAdding(r2, times: mean[2])
            + T(v[i * 4 + 3])
        for k in 0..<3 {
            rs[i * 3 + k] = dot3(r0, r1, r2, covariance[k], covariance[3 + k], covariance[6 + k])
        }
    }
    var cc = [T](repeating: T(0), count: 9)
    for i in 0..<3 {
        for l in 0..<3 {
            cc[i * 3 + l] = dot3(
                rs[i * 3], rs[i * 3 + 1], rs[i * 3 + 2], T(v[l * 4]), T(v[l * 4 + 1]),
                T(v[l * 4 + 2]))
        }
    }
    let (tx, ty, tz) = (mc[0], mc[1], mc[2])
    let tz2 = tz * tz
    let k = camera.k
    let fx = k[0]
    let fy = k[4]
    let cx = k[2]
    let cy = k[5]
    let width = Float(camera.width)
    let height = Float(camera.height)
    let tanFovX = 0.5 * width / fx
    let tanFovY = 0.5 * height / fy
    let margin = SplatConstants.fovClampMargin
    let limXPos = (width - cx) / fx + margin * tanFovX
    let limXNeg = cx / fx + margin * tanFovX
    let limYPos = (height - cy) / fy + margin * tanFovY
    let limYNeg = cy / fy + margin * tanFovY
    let txc = tz * clamp(tx / tz, lo: T(-limXNeg), hi: T(limXPos))
    let tyc = tz * clamp(ty / tz, lo: T(-limYNeg), hi: T(limYPos))
    // J = [[fx/tz, 0, -fx txc/tz²], [0, fy/tz, -fy tyc/tz²]]
    let j = [T(fx) / tz, T(0), -T(fx) * txc / tz2, T(0), T(fy) / tz, -T(fy) * tyc / tz2]
    var jc = [T](repeating: T(0), count: 6)  // J Σc
    for i in 0..<2 {
        for c in 0..<3 {
            jc[i * 3 + c] = dot3(j[i * 3], j[i * 3 + 1], j[i * 3 + 2], cc[c], cc[3 + c], cc[6 + c])
        }
    }
    var cov = [T](repeating: T(0), count: 4)  // J Σc Jᵀ
    for i in 0..<2 {
        for l in 0..<2 {
            cov[i * 2 + l] = dot3(
                jc[i * 3], jc[i * 3 + 1], jc[i * 3 + 2], j[l * 3], j[l * 3 + 1], j[l * 3 + 2])
        }
    }
    let mx = (T(k[0]) * tx + T(k[1]) * ty + T(k[2]) * tz) / tz
    let my = (T(k[3]) * tx + T(k[4]) * ty + T(k[5]) * tz) / tz

    let detOrig = cov[0] * cov[3] - cov[1] * cov[2]
    let e = T(eps2d)
    let a = cov[0] + e
    let b01 = cov[1]
    let b10 = cov[2]
    let d = cov[3] + e
    let detRaw = a * d - b01 * b10
    let det = clampMin(detRaw, T(SplatConstants.minDeterminant))
    let compensation = computeCompensation ? clampMin(detOrig / det, T(0)).squareRoot() : T(1)
    let conic = (d / det, -(b01 + b10) / T(2) / det, a / det)

    var rx: Int32 = 0
    var ry: Int32 = 0
    let depth = tz.primal
    let valid = det.primal > 0 && depth > Double(nearPlane) && depth < Double(farPlane)
    if valid {
        let fx = ceil(SplatConstants.radiusSigmas * Float(a.primal).squareRoot())
        let fy = ceil(SplatConstants.radiusSigmas * Float(d.primal).squareRoot())
        let x = Float(mx.primal)
        let y = Float(my.primal)
        let inside = x + fx > 0 && x - fx < width && y + fy > 0 && y - fy < height
        if inside, fx.isFinite, fy.isFinite, fx < 1e9, fy < 1e9 {
            rx = Int32(fx)
            ry = Int32(fy)
        }
    }
    return ProjectedGaussian(
        mean2d: (mx, my), depth: tz, conic: conic, compensation: compensation, radius: (rx, ry))
}
