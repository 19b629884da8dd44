// Cameras and their conventions, following utils3d@9a4eb15 (utils3d/torch/transforms.py) and
// TRELLIS@6b0d647 (trellis/utils/render_utils.py, random_utils.py, renderers/gaussian_render.py).
// Extrinsics are OpenCV world-to-camera [R | t; 0 0 0 1] (x right, y down, z forward), stored
// row-major as 16 Floats; intrinsics are 3x3 row-major, normalised (image size 1) unless a name
// says pixels. Float32 arithmetic is kept where upstream runs in float32 (fixture parity).
import Foundation
import LatticeTensor

/// A row-major 3x3 matrix of Floats.
public typealias Matrix3 = [Float]
/// A row-major 4x4 matrix of Floats.
public typealias Matrix4 = [Float]

/// The camera looking from `eye` at `lookAt` with `up` (utils3d `extrinsics_look_at`).
///
/// Like utils3d, x = cross(-up, z) and y = cross(z, x) are formed from the unnormalised vectors and
/// normalised afterwards; t = -R eye. Throws when eye == lookAt or up is parallel to the view axis
/// (upstream would return NaNs).
public func extrinsicsLookAt(eye: SIMD3<Float>, lookAt: SIMD3<Float>, up: SIMD3<Float>) throws
    -> Matrix4
{
    let z = lookAt - eye
    let x = cross(-up, z)
    let y = cross(z, x)
    func normalised(_ v: SIMD3<Float>, _ what: String) throws -> SIMD3<Float> {
        let n = (v.x * v.x + v.y * v.y + v.z * v.z).squareRoot()
        guard n > 0, n.isFinite else {
            throw LatticeError(
                .invalidArgument,
                "extrinsicsLookAt: degenerate camera (eye \(eye), lookAt \(lookAt), up \(up)): "
                    + "\(what) axis has length \(n)")
        }
        return v / n
    }
    let xn = try normalised(x, "x")
    let yn = try normalised(y, "y")
    let zn = try normalised(z, "z")
    let t = -SIMD3<Float>(dot3(xn, eye), dot3(yn, eye), dot3(zn, eye))
    return [
        xn.x, xn.y, xn.z, t.x,
        yn.x, yn.y, yn.z, t.y,
        zn.x, zn.y, zn.z, t.z,
        0, 0, 0, 1,
    ]
}

@inline(__always) func cross(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> SIMD3<Float> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}

@inline(__always) func dot3(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> Float {
    a.x * b.x + a.y * b.y + a.z * b.z
}

/// Normalised intrinsics from horizontal and vertical field of view in radians (utils3d
/// `intrinsics_from_fov_xy`): f = 0.5 / tan(fov / 2), principal point (0.5, 0.5).
public func intrinsicsFromFov(x fovX: Float, y fovY: Float) -> Matrix3 {
    let fx = 0.5 / tan(fovX / 2)
    let fy = 0.5 / tan(fovY / 2)
    return [fx, 0, 0.5, 0, fy, 0.5, 0, 0, 1]
}

/// An orbit camera of TRELLIS `yaw_pitch_r_fov_to_extrinsics_intrinsics`: the eye
/// r (sin yaw cos pitch, cos yaw cos pitch, sin pitch) looks at the origin with up +Z.
///
/// Angles are rounded to float32 first, as upstream's `torch.tensor(float(.))`. A pitch of
/// exactly ±pi/2 in float32 arithmetic gives a degenerate camera and throws.
public func yawPitchRadiusFovToExtrinsicsIntrinsics(
    yaw: Double, pitch: Double, radius: Double, fovDegrees: Double
) throws -> (extrinsics: Matrix4, intrinsics: Matrix3) {
    let fov = Float(fovDegrees) * Float(Double.pi / 180)
    let y = Float(yaw)
    let p = Float(pitch)
    let r = Float(radius)
    let eye = SIMD3<Float>(sin(y) * cos(p), cos(y) * cos(p), sin(p)) * r
    let extrinsics = try extrinsicsLookAt(eye: eye, lookAt: .zero, up: SIMD3(0, 0, 1))
    return (extrinsics, intrinsicsFromFov(x: fov, y: fov))
}

/// The camera centre in world space, -Rᵀt, of world-to-camera `extrinsics` (4x4 or 3x4 rows).
public func cameraCenter(extrinsics e: [Float]) -> SIMD3<Float> {
    // Double for the product: upstream inverts the 4x4 in float32 (LU), which is within an ulp.
    let r = (0..<9).map { Double(e[($0 / 3) * 4 + $0 % 3]) }
    let t = [Double(e[3]), Double(e[7]), Double(e[11])]
    var c = SIMD3<Float>()
    for j in 0..<3 { c[j] = Float(-(r[j] * t[0] + r[3 + j] * t[1] + r[6 + j] * t[2])) }
    return c
}

/// The 3DGS clip-space projection of normalised `intrinsics` (TRELLIS gaussian_render
/// `intrinsics_to_projection`): DirectX-style depth in [0, 1] between `near` and `far`.
public func intrinsicsToProjection(_ k: Matrix3, near: Double, far: Double) -> Matrix4 {
    var p = [Float](repeating: 0, count: 16)
    p[0] = 2 * k[0]
    p[5] = 2 * k[4]
    p[2] = 2 * k[2] - 1
    p[6] = -2 * k[5] + 1
    p[10] = Float(far / (far - near))
    p[11] = Float(near * far / (near - far))
    p[14] = 1
    return p
}

/// Row-major product of two 4x4 matrices in float32 (as `torch.matmul`).
public func matmul4(_ a: Matrix4, _ b: Matrix4) -> Matrix4 {
    var c = [Float](repeating: 0, count: 16)
    for i in 0..<4 {
        for j in 0..<4 {
            var s: Float = 0
            for k in 0..<4 { s += a[i * 4 + k] * b[k * 4 + j] }
            c[i * 4 + j] = s
        }
    }
    return c
}

/// Intrinsics in pixels from normalised ones for a `width` x `height` image.
public func intrinsicsInPixels(_ k: Matrix3, width: Int, height: Int) -> Matrix3 {
    let w = Float(width)
    let h = Float(height)
    return [k[0] * w, k[1] * w, k[2] * w, k[3] * h, k[4] * h, k[5] * h, 0, 0, 1]
}

/// Normalised intrinsics from intrinsics in pixels for a `width` x `height` image.
public func intrinsicsNormalised(_ k: Matrix3, width: Int, height: Int) -> Matrix3 {
    let w = Float(width)
    let h = Float(height)
    return [k[0] / w, k[1] / w, k[2] / w, k[3] / h, k[4] / h, k[5] / h, 0, 0, 1]
}

// MARK: - Low-discrepancy sequences (trellis/utils/random_utils.py)

/// The first primes, the bases of the Halton dimensions.
public let haltonPrimes: [Int] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53]

/// The van der Corput radical inverse of `n` in `base`, summed digit by digit as upstream.
public func radicalInverse(base: Int, _ n: Int) -> Double {
    var value = 0.0
    let invBase = 1.0 / Double(base)
    var invBaseN = invBase
    var n = n
    while n > 0 {
        let digit = n % base
        value += Double(digit) * invBaseN
        n /= base
        invBaseN *= invBase
    }
    return value
}

/// The `n`-th of `numSamples` Hammersley points in `dim` dimensions: n/numSamples, then Halton.
public func hammersleySequence(dim: Int, _ n: Int, numSamples: Int) -> [Double] {
    [Double(n) / Double(numSamples)]
        + (0..<(dim - 1)).map { radicalInverse(base: haltonPrimes[$0], n) }
}

/// The `n`-th of `numSamples` Hammersley directions on the sphere as [yaw (phi), pitch (theta)].
public func sphereHammersleySequence(
    _ n: Int, numSamples: Int, offset: (Double, Double) = (0, 0), remap: Bool = false
) -> [Double] {
    let uv = hammersleySequence(dim: 2, n, numSamples: numSamples)
    var u = uv[0] + offset.0 / Double(numSamples)
    let v = uv[1] + offset.1
    if remap { u = u < 0.25 ? 2 * u : 2.0 / 3.0 * u + 1.0 / 3.0 }
    let theta = acos(1 - 2 * u) - Double.pi / 2
    let phi = v * 2 * Double.pi
    return [phi, theta]
}
