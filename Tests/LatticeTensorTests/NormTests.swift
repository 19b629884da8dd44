// Normalisations: fused kernels against naive twins and composed definitions, and
// finite-difference checks of every backward rule (weights, biases, non-contiguous inputs).
import Foundation
import LatticeTestSupport
import Testing

@testable import LatticeTensor

@Suite struct NormTests {
    /// Two-pass float statistics over ≤ 1024 values: relative error ~√n·ε on normalised outputs
    /// of magnitude ≤ ~4, so 2e-5 absolute (after weight/bias ≤ 2) holds with margin.
    @Test(arguments: [
        (7, 33, true, true), (5, 1024, true, false), (3, 17, false, true), (4, 64, false, false),
    ])
    func layerNormMatchesNaiveTwin(_ rows: Int, _ cols: Int, _ hasWeight: Bool, _ hasBias: Bool) {
        let x = randomTensor([rows, cols], seed: 50, low: -3, high: 5)
        let w = hasWeight ? randomTensor([cols], seed: 51) : nil
        let b = hasBias ? randomTensor([cols], seed: 52) : nil
        let got = layerNorm(x, weight: w, bias: b, eps: 1e-5).toFloats()
        let ref = NaiveKernels.layerNormRows(
            x.toFloats(), cols: cols, weight: w?.toFloats(), bias: b?.toFloats(), eps: 1e-5)
        for (g, r) in zip(got, ref) { #expect(Swift.abs(g - r) <= 2e-5) }
    }

    @Test func layerNormStreamingPathMatchesNaiveTwin() {
        // 4100×1024: per-thread chunks of ≥ 2M floats take the non-temporal store path (with
        // up to 2 threads). Same statistics and tolerance as the small twin test.
        let x = randomTensor([4100, 1024], seed: 59, low: -3, high: 5)
        let w = randomTensor([1024], seed: 51)
        let b = randomTensor([1024], seed: 52)
        let got = layerNorm(x, weight: w, bias: b, eps: 1e-5).toFloats()
        let ref = NaiveKernels.layerNormRows(
            x.toFloats(), cols: 1024, weight: w.toFloats(), bias: b.toFloats(), eps: 1e-5)
        var worst: Float = 0
        for (g, r) in zip(got, ref) { worst = Swift.max(worst, Swift.abs(g - r)) }
        #expect(worst <= 2e-5)
    }

    @Test func layerNormHandlesLargeOffsetAndConstantRows() {
        // A row at 1e4 ± 1: the two-pass variance stays accurate (single-pass E[x²]-E[x]²
        // would lose everything). A constant row normalises to 0 (var = 0, rstd = 1/√eps).
        var xs = randomTensor([1, 256], seed: 53).toFloats().map { $0 + 1e4 }
        xs += [Float](repeating: 3, count: 256)
        let x = Tensor(xs, shape: [2, 256])
        let got = layerNorm(x, weight: nil, bias: nil, eps: 1e-5).toFloats()
        let ref = NaiveKernels.layerNormRows(xs, cols: 256, weight: nil, bias: nil, eps: 1e-5)
        // Inputs near 1e4 carry absolute rounding 5e-4 of a spread ~1: 2e-3 relative output.
        for (g, r) in zip(got, ref) { #expect(Swift.abs(g - r) <= 2e-3) }
        #expect(got[256...].allSatisfy { $0 == 0 })
    }

    @Test func rmsNormMatchesNaiveTwin() {
        let x = randomTensor([6, 130], seed: 54)
        let w = randomTensor([130], seed: 55)
        let got = rmsNorm(x, weight: w, eps: 1e-6).toFloats()
        let ref = NaiveKernels.rmsNormRows(x.toFloats(), cols: 130, weight: w.toFloats(), eps: 1e-6)
        // Same reasoning as LayerNorm: few-ulp statistics on O(1) outputs.
        for (g, r) in zip(got, ref) { #expect(Swift.abs(g - r) <= 1e-5) }
    }

    @Test func groupNormMatchesComposedDefinition() {
        // Composed from mean/variance ops in float: both sides carry few-ulp rounding on
        // outputs of magnitude ≤ ~6, hence 3e-5.
        let x = randomTensor([2, 6, 3, 5], seed: 56)
        let w = randomTensor([6], seed: 57)
        let b = randomTensor([6], seed: 58)
        let got = groupNorm(x, groups: 3, weight: w, bias: b, eps: 1e-5).toFloats()
        let g = x.reshape([2, 3, 30])  // [N, G, C/G*S]
        let xhat =
            (g - g.mean(axes: [2], keepDims: true))
            * (g.variance(axes: [2], keepDims: true, unbiased: false) + 1e-5).rsqrt()
        let ref =
            (xhat.reshape([2, 6, 3, 5]) * w.reshape([1, 6, 1, 1]) + b.reshape([1, 6, 1, 1]))
            .toFloats()
        for (u, v) in zip(got, ref) { #expect(Swift.abs(u - v) <= 3e-5) }
    }

    @Test func l2NormalizeMatchesDefinition() {
        let x = Tensor([3, 4, 0, 0, 1e-14, 0], shape: [3, 2])
        let y = x.l2Normalize(axis: -1).toFloats()
        #expect(y[0] == 0.6 && y[1] == 0.8)
        #expect(y[2] == 0 && y[3] == 0)  // zero row: 0 / eps
        #expect(Swift.abs(y[4] - 0.01) < 1e-9)  // below eps: x / eps
        let cols = Tensor([3, 0, 4, 0], shape: [2, 2]).l2Normalize(axis: 0).toFloats()
        #expect(cols == [0.6, 0, 0.8, 0])
    }

    // MARK: Gradients

    @Test func layerNormGradients() {
        let x = randomTensor([5, 6], seed: 60)
        let w = randomTensor([5], seed: 61)
        let b = randomTensor([5], seed: 62)
        // Transposed input [6, 5]: the op sees a non-contiguous tensor.
        gradCheck([x, w, b]) {
            layerNorm($0[0].transpose(0, 1), weight: $0[1], bias: $0[2], eps: 1e-5)
        }
        gradCheck([x]) { layerNorm($0[0], weight: nil, bias: nil, eps: 1e-5) }
        let x3 = randomTensor([2, 3, 4], seed: 63)
        let w4 = randomTensor([4], seed: 64)
        gradCheck([x3, w4]) { layerNorm($0[0], weight: $0[1], bias: nil, eps: 1e-5) }
    }

    @Test func layerNormFusedBackwardMatchesComposedOps() {
        // 300 rows split into per-thread partial sums for dw/db: must equal the autodiff of the
        // composed definition. Both are float sums of 300 terms: 1e-4 relative to max(1,|g|).
        let x = randomTensor([300, 48], seed: 65)
        let w = randomTensor([48], seed: 66)
        let b = randomTensor([48], seed: 67)
        let gy = randomTensor([300, 48], seed: 68)
        let (x1, w1, b1) = (
            x.detach().requiringGrad(), w.detach().requiringGrad(), b.detach().requiringGrad()
        )
        layerNorm(x1, weight: w1, bias: b1, eps: 1e-5).backward(gy)
        let (x2, w2, b2) = (
            x.detach().requiringGrad(), w.detach().requiringGrad(), b.detach().requiringGrad()
        )
        let xhat =
            (x2 - x2.mean(axes: [1], keepDims: true))
            * (x2.variance(axes: [1], keepDims: true, unbiased: false) + 1e-5).rsqrt()
        (xhat * w2 + b2).backward(gy)
        for (fused, composed) in [(x1.grad, x2.grad), (w1.grad, w2.grad), (b1.grad, b2.grad)] {
            let f = fused?.toFloats() ?? []
            let c = composed?.toFloats() ?? [1]
            #expect(f.count == c.count)
            for (u, v) in zip(f, c) {
                #expect(Swift.abs(u - v) <= 1e-4 * Swift.max(1, Swift.abs(v)))
            }
        }
    }

    @Test func rmsNormGradients() {
        let x = randomTensor([4, 6], seed: 70)
        let w = randomTensor([4], seed: 71)
        gradCheck([x, w]) { rmsNorm($0[0].transpose(0, 1), weight: $0[1], eps: 1e-6) }
        gradCheck([x]) { rmsNorm($0[0], weight: nil, eps: 1e-6) }
    }

    @Test func groupNormGradients() {
        let x = randomTensor([2, 4, 3, 2], seed: 72)
        let w = randomTensor([4], seed: 73)
        let b = randomTensor([4], seed: 74)
        gradCheck([x, w, b]) { groupNorm($0[0], groups: 2, weight: $0[1], bias: $0[2], eps: 1e-5) }
        // Non-contiguous [N, C, S] input from a transposed tensor, no affine.
        let y = randomTensor([2, 5, 6], seed: 75)
        gradCheck([y]) {
            groupNorm($0[0].transpose(1, 2), groups: 3, weight: nil, bias: nil, eps: 1e-5)
        }
    }

    @Test func l2NormalizeGradients() {
        let x = randomTensor([3, 4], seed: 76)
        gradCheck([x]) { $0[0].l2Normalize(axis: -1) }
        gradCheck([x]) { $0[0].transpose(0, 1).l2Normalize(axis: 0) }
        // Below eps the op is x / eps, a linear map (eps = 10 makes every row sub-threshold).
        gradCheck([x]) { $0[0].l2Normalize(axis: 1, eps: 10) }
    }
}
