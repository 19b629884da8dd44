// View-dependent colour from real spherical harmonics, degrees 0..3, with gsplat's basis (Sloan,
// "Efficient Spherical Harmonic Evaluation", JCGT 2013) and conventions: dirs = mean - camera
// centre, normalised; colour = max(Σ basis_k coeff_k + 0.5, 0).

/// Number of SH basis functions of `degree`: (degree + 1)².
public func shBasisCount(degree: Int) -> Int { (degree + 1) * (degree + 1) }

/// Writes the (degree + 1)² basis values at direction (x, y, z) (already unit length) to `out`.
@inline(__always)
public func shBasis<T: SplatReal>(
    degree: Int, _ x: T, _ y: T, _ z: T, into out: UnsafeMutablePointer<T>
) {
    out[0] = T(0.2820947917738781)
    if degree < 1 { return }
    let a1 = T(-0.48860251190292)
    out[1] = a1 * y
    out[2] = -a1 * z
    out[3] = a1 * x
    if degree < 2 { return }
    let z2 = z * z
    let b2 = T(-1.092548430592079) * z
    let a2 = T(0.5462742152960395)
    let c1 = x * x - y * y
    let s1 = T(2) * x * y
    out[4] = a2 * s1
    out[5] = b2 * y
    out[6] = T(0.9461746957575601) * z2 - T(0.3153915652525201)
    out[7] = b2 * x
    out[8] = a2 * c1
    if degree < 3 { return }
    let c3 = T(-2.285228997322329) * z2 + T(0.4570457994644658)
    let b3 = T(1.445305721320277) * z
    let a3 = T(-0.5900435899266435)
    let c2 = x * c1 - y * s1
    let s2 = x * s1 + y * c1
    out[9] = a3 * s2
    out[10] = b3 * s1
    out[11] = c3 * y
    out[12] = z * (T(1.865881662950577) * z2 - T(1.119528997770346))
    out[13] = c3 * x
    out[14] = b3 * c1
    out[15] = a3 * c2
}

/// The direction from `center` to `mean`, normalised as F.normalize (norm clamped at 1e-12).
@inline(__always)
public func viewDirection<T: SplatReal>(mean: [T], center: SIMD3<Float>) -> (T, T, T) {
    let dx = mean[0] - T(center.x)
    let dy = mean[1] - T(center.y)
    let dz = mean[2] - T(center.z)
    let n = clampMin((dx * dx + dy * dy + dz * dz).squareRoot(), T(1e-12))
    return (dx / n, dy / n, dz / n)
}
