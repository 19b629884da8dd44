// Relative pose errors (RRE, TE, Acc@τ, AUC): invariance to a world similarity, and known
// rotation and translation perturbations.
import Foundation
import LatticeGeometry
import LatticeTensor
import Testing

/// A world-to-camera pose [R | t] from a rotation about `axis` by `angle` and a centre `c`.
private func pose(axis: SIMD3<Double>, angle: Double, center c: SIMD3<Double>) -> [Float] {
    let r = rotation(axis: axis, angle: angle)
    var m = [Double](repeating: 0, count: 16)
    for i in 0..<3 {
        var t: Double = 0
        for j in 0..<3 {
            m[i * 4 + j] = r[i * 3 + j]
            t -= r[i * 3 + j] * c[j]
        }
        m[i * 4 + 3] = t
    }
    m[15] = 1
    return m.map { Float($0) }
}

/// Rodrigues' rotation matrix, row-major.
private func rotation(axis: SIMD3<Double>, angle: Double) -> [Double] {
    let n = axis / (axis * axis).sum().squareRoot()
    let c: Double = cos(angle)
    let s: Double = sin(angle)
    let k: Double = 1 - c
    let (x, y, z): (Double, Double, Double) = (n.x, n.y, n.z)
    var m = [Double](repeating: 0, count: 9)
    m[0] = c + x * x * k
    m[1] = x * y * k - z * s
    m[2] = x * z * k + y * s
    m[3] = y * x * k + z * s
    m[4] = c + y * y * k
    m[5] = y * z * k - x * s
    m[6] = z * x * k - y * s
    m[7] = z * y * k + x * s
    m[8] = c + z * z * k
    return m
}

private func multiply(_ a: [Float], _ b: [Float]) -> [Float] {
    var c = [Float](repeating: 0, count: 16)
    for i in 0..<4 {
        for j in 0..<4 {
            for k in 0..<4 { c[i * 4 + j] += a[i * 4 + k] * b[k * 4 + j] }
        }
    }
    return c
}

private let groundTruth: [[Float]] = [
    pose(axis: SIMD3(0, 0, 1), angle: 0.3, center: SIMD3(2, 0, 0.5)),
    pose(axis: SIMD3(1, 1, 0), angle: 1.1, center: SIMD3(0, 2, 0.2)),
    pose(axis: SIMD3(0, 1, 1), angle: -0.7, center: SIMD3(-1.5, -1, 0.8)),
    pose(axis: SIMD3(1, 0, 0), angle: 2.0, center: SIMD3(0.3, -2, -0.4)),
]

@Suite struct PoseMetricsTests {
    @Test func invariantToAWorldSimilarity() throws {
        // T_i S⁻¹ for a world rotation + translation, then scaled translations: relative poses
        // keep their rotations and translation directions. Float32 poses: errors below 0.01°.
        let r = rotation(axis: SIMD3(0.2, -1, 0.4), angle: 0.8)
        let rf = r.map { Float($0) }
        let s: [Float] = [
            rf[0], rf[1], rf[2], 0.5, rf[3], rf[4], rf[5], -1, rf[6], rf[7], rf[8], 2, 0, 0, 0, 1,
        ]
        // S⁻¹ = [Rᵀ | -Rᵀ t]
        let rt = [s[0], s[4], s[8], s[1], s[5], s[9], s[2], s[6], s[10]]
        let shift: [Float] = [0.5, -1, 2]
        var tt = [Float](repeating: 0, count: 3)
        for i in 0..<3 { for k in 0..<3 { tt[i] -= rt[i * 3 + k] * shift[k] } }
        let sInv: [Float] = [
            rt[0], rt[1], rt[2], tt[0], rt[3], rt[4], rt[5], tt[1], rt[6], rt[7], rt[8], tt[2], 0,
            0, 0, 1,
        ]
        let predicted = groundTruth.map { g -> [Float] in
            var p = multiply(g, sInv)
            for i in [3, 7, 11] { p[i] *= 3.5 }
            return p
        }
        let e = try poseErrors(predicted: predicted, groundTruth: groundTruth)
        #expect(e.pairs.count == 6)
        #expect(
            e.pairs.map { [$0.0, $0.1] } == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
        #expect(e.rotationDegrees.allSatisfy { $0 < 0.01 })
        #expect(e.translationDegrees.allSatisfy { $0 < 0.01 })
        #expect(e.accuracy(15) == 1 && e.accuracy(30) == 1)
        #expect(e.auc(maxThreshold: 30) == 1)
    }

    @Test func knownRotationAndTranslationErrors() throws {
        // Rotating camera 1 by 12° about its own optical axis, keeping its centre: pairs with
        // camera 1 get RRE 12°, the others 0. The translations change too (t = -R c), so TE is
        // only checked to be finite there.
        var predicted = groundTruth
        let extra = rotation(axis: SIMD3(0, 0, 1), angle: 12 * Double.pi / 180).map { Float($0) }
        let g = groundTruth[1]
        let c = cameraCenter(extrinsics: g)
        var r = [Float](repeating: 0, count: 9)
        for i in 0..<3 {
            for j in 0..<3 { for k in 0..<3 { r[i * 3 + j] += extra[i * 3 + k] * g[k * 4 + j] } }
        }
        var t = [Float](repeating: 0, count: 3)
        for i in 0..<3 { for k in 0..<3 { t[i] -= r[i * 3 + k] * c[k] } }
        predicted[1] = [
            r[0], r[1], r[2], t[0], r[3], r[4], r[5], t[1], r[6], r[7], r[8], t[2], 0, 0, 0, 1,
        ]
        let e = try poseErrors(predicted: predicted, groundTruth: groundTruth)
        for (k, (i, j)) in e.pairs.enumerated() {
            let expected = (i == 1 || j == 1) ? 12.0 : 0.0
            // float32 poses: 1e-3 degrees.
            #expect(abs(e.rotationDegrees[k] - expected) < 1e-3, "pair \(i), \(j)")
            #expect(e.translationDegrees[k].isFinite && e.translationDegrees[k] <= 90)
        }
        #expect(e.rotationAccuracy(15) == 1)
        #expect(e.rotationAccuracy(10) == 0.5)
    }

    @Test func translationErrorIsADirectionAngleUpToSign() throws {
        // Identity rotations: the relative translation of (0, 1) is c_1 - c_0.
        func at(_ c: SIMD3<Double>) -> [Float] { pose(axis: SIMD3(0, 0, 1), angle: 0, center: c) }
        let gt = [at(SIMD3(0, 0, 0)), at(SIMD3(1, 0, 0))]
        let angle = 20.5 * Double.pi / 180
        let turned = [at(SIMD3(0, 0, 0)), at(SIMD3(cos(angle), sin(angle), 0) * 4)]
        let e = try poseErrors(predicted: turned, groundTruth: gt)
        #expect(abs(e.translationDegrees[0] - 20.5) < 1e-4)
        #expect(abs(e.rotationDegrees[0]) < 1e-9)
        // The opposite direction counts as correct (min(θ, 180° − θ)).
        let flipped = [at(SIMD3(0, 0, 0)), at(SIMD3(-2, 0, 0))]
        #expect(try poseErrors(predicted: flipped, groundTruth: gt).translationDegrees[0] < 1e-4)
        // AUC@30 of a single pair with max error 20.5°: it counts in bins 20...29, (30 - 20) / 30.
        #expect(abs(e.auc(maxThreshold: 30) - 10.0 / 30) < 1e-12)
        #expect(e.accuracy(15) == 0 && e.accuracy(30) == 1)
        #expect(throws: LatticeError.self) {
            try poseErrors(predicted: [gt[0]], groundTruth: [gt[0]])
        }
    }
}
