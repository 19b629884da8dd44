// Camera pose errors between predicted and ground-truth world-to-camera extrinsics, as VGGT's
// evaluation (vggt@44b3afb evaluation/test_co3d.py `se3_to_relative_pose_error`, `rotation_angle`,
// `translation_angle`, `calculate_auc_np`) which ReconViaGen reports as RRE / TE: for every pair
// i < j the relative pose T_i·T_j⁻¹ is compared; RRE is the angle of R_gtᵀ R_pred, TE the angle
// between the relative translations up to sign (min(θ, 180° − θ)), both in degrees.
import Foundation
import LatticeTensor

/// Per-pair errors and their summaries (see `poseErrors(predicted:groundTruth:)`).
public struct PoseErrors: Sendable, Equatable {
    /// Frame pairs (i, j), i < j, in `itertools.combinations` order.
    public var pairs: [(Int, Int)]
    /// Relative rotation error per pair, degrees.
    public var rotationDegrees: [Double]
    /// Relative translation direction error per pair, degrees in [0, 90].
    public var translationDegrees: [Double]

    public static func == (a: Self, b: Self) -> Bool {
        a.pairs.elementsEqual(b.pairs, by: { $0 == $1 })
            && a.rotationDegrees == b.rotationDegrees
            && a.translationDegrees == b.translationDegrees
    }

    /// Mean RRE in degrees.
    public var meanRotationError: Double { mean(rotationDegrees) }
    /// Mean TE in degrees.
    public var meanTranslationError: Double { mean(translationDegrees) }

    /// Fraction of pairs whose rotation error is below `degrees` (RRA@τ).
    public func rotationAccuracy(_ degrees: Double) -> Double {
        fraction(rotationDegrees) { $0 < degrees }
    }
    /// Fraction of pairs whose translation error is below `degrees` (RTA@τ).
    public func translationAccuracy(_ degrees: Double) -> Double {
        fraction(translationDegrees) { $0 < degrees }
    }
    /// Fraction of pairs with both errors below `degrees` (Acc@τ, e.g. 15 and 30).
    public func accuracy(_ degrees: Double) -> Double {
        fraction(Array(zip(rotationDegrees, translationDegrees))) { max($0.0, $0.1) < degrees }
    }

    /// VGGT's AUC@`maxThreshold`: the mean over 1° bins of the cumulative fraction of pairs whose
    /// max(RRE, TE) falls in [0, τ] (numpy histogram bins, the last one closed).
    public func auc(maxThreshold: Int = 30) -> Double {
        guard !pairs.isEmpty, maxThreshold > 0 else { return 0 }
        var histogram = [Double](repeating: 0, count: maxThreshold)
        for (r, t) in zip(rotationDegrees, translationDegrees) {
            let e = max(r, t)
            guard e >= 0, e <= Double(maxThreshold) else { continue }
            histogram[min(Int(e), maxThreshold - 1)] += 1
        }
        var cumulative = 0.0
        var total = 0.0
        for h in histogram {
            cumulative += h / Double(pairs.count)
            total += cumulative
        }
        return total / Double(maxThreshold)
    }

    private func mean(_ x: [Double]) -> Double {
        x.isEmpty ? 0 : x.reduce(0, +) / Double(x.count)
    }
    private func fraction<T>(_ x: [T], _ ok: (T) -> Bool) -> Double {
        x.isEmpty ? 0 : Double(x.filter(ok).count) / Double(x.count)
    }
}

/// Relative pose errors of all frame pairs between `predicted` and `groundTruth` world-to-camera
/// extrinsics (row-major 4x4 or 3x4), computed in double precision.
///
/// As upstream, a translation of (near) zero length normalises to zero and gives TE = 90°.
public func poseErrors(predicted: [[Float]], groundTruth: [[Float]]) throws -> PoseErrors {
    guard predicted.count == groundTruth.count, predicted.count >= 2 else {
        throw LatticeError(
            .invalidArgument,
            "poseErrors: \(predicted.count) predicted and \(groundTruth.count) ground-truth "
                + "poses; expected equal counts of at least 2")
    }
    for (name, set) in [("predicted", predicted), ("groundTruth", groundTruth)] {
        for (i, e) in set.enumerated() where !(e.count == 16 || e.count == 12) {
            throw LatticeError(
                .shapeMismatch,
                "poseErrors: \(name)[\(i)] has \(e.count) values, expected 16 (4x4) or 12 (3x4)")
        }
    }
    var result = PoseErrors(pairs: [], rotationDegrees: [], translationDegrees: [])
    let n = predicted.count
    for i in 0..<n {
        for j in (i + 1)..<n {
            let gt = relativePose(groundTruth[i], groundTruth[j])
            let pr = relativePose(predicted[i], predicted[j])
            result.pairs.append((i, j))
            result.rotationDegrees.append(rotationAngle(gt.r, pr.r))
            result.translationDegrees.append(translationAngle(gt.t, pr.t))
        }
    }
    return result
}

/// T_a · T_b⁻¹ of world-to-camera poses: R = R_a R_bᵀ, t = t_a − R t_b.
private func relativePose(_ a: [Float], _ b: [Float]) -> (r: [Double], t: [Double]) {
    func rt(_ e: [Float]) -> ([Double], [Double]) {
        let r = (0..<9).map { Double(e[($0 / 3) * 4 + $0 % 3]) }
        return (r, [Double(e[3]), Double(e[7]), Double(e[11])])
    }
    let (ra, ta) = rt(a)
    let (rb, tb) = rt(b)
    var r = [Double](repeating: 0, count: 9)
    for i in 0..<3 {
        for j in 0..<3 {
            for k in 0..<3 { r[i * 3 + j] += ra[i * 3 + k] * rb[j * 3 + k] }
        }
    }
    var t = ta
    for i in 0..<3 {
        for k in 0..<3 { t[i] -= r[i * 3 + k] * tb[k] }
    }
    return (r, t)
}

/// Geodesic angle in degrees between rotations `a` and `b`: atan2 of the sine and cosine of
/// aᵀb's angle, accurate near 0 and 180° (upstream's quaternion form is the same angle).
private func rotationAngle(_ a: [Double], _ b: [Double]) -> Double {
    var m = [Double](repeating: 0, count: 9)  // aᵀ b
    for i in 0..<3 {
        for j in 0..<3 {
            for k in 0..<3 { m[i * 3 + j] += a[k * 3 + i] * b[k * 3 + j] }
        }
    }
    let cosine = (m[0] + m[4] + m[8] - 1) / 2
    let sx = m[7] - m[5]
    let sy = m[2] - m[6]
    let sz = m[3] - m[1]
    let sine = (sx * sx + sy * sy + sz * sz).squareRoot() / 2
    return atan2(sine, cosine) * 180 / Double.pi
}

/// Angle in degrees between translation directions, folded to [0, 90] (sign ambiguity).
private func translationAngle(_ gt: [Double], _ pred: [Double]) -> Double {
    let eps = 1e-15
    func unit(_ v: [Double]) -> [Double] {
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).squareRoot()
        return v.map { $0 / (n + eps) }
    }
    let a = unit(gt)
    let b = unit(pred)
    let d = min(1, abs(a[0] * b[0] + a[1] * b[1] + a[2] * b[2]))
    let deg = acos(d) * 180 / Double.pi
    return min(deg, abs(180 - deg))
}
