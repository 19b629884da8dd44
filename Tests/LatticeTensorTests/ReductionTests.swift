// Reductions, argmax and softmax: kernels against naive twins over many axis sets and layouts,
// known values, tie rules, and finite-difference checks of the backward rules.
import Foundation
import LatticeTestSupport
import Testing

@testable import LatticeTensor

@Suite struct ReductionTests {
    static let axisSets: [[Int]?] = [
        nil, [], [0], [3], [-1], [1, 2], [0, 3], [0, 2], [1, 3], [0, 1, 2], [0, 1, 2, 3],
    ]

    /// Sums of ≤ 360 floats with 32 partial accumulators: float rounding grows like √n·ε
    /// relative to Σ|x|, so 1e-5 of max(|sum|, 1) is ample and exposes any indexing bug.
    @Test(arguments: axisSets.indices)
    func reductionsMatchNaiveTwin(_ i: Int) {
        let axes = Self.axisSets[i]
        let base = randomTensor([6, 5, 4, 3], seed: 40)
        let x = base.permute([3, 1, 2, 0])  // [3, 5, 4, 6], non-contiguous
        let xs = x.contiguous().toFloats()
        let norm = Set((axes ?? [0, 1, 2, 3]).map { $0 < 0 ? $0 + 4 : $0 })
        for (op, f) in [
            (ReduceOp.sum, { (t: Tensor) in t.sum(axes: axes, keepDims: true) }),
            (.max, { $0.max(axes: axes, keepDims: true) }),
            (.min, { $0.min(axes: axes, keepDims: true) }),
        ] {
            let got = f(x).toFloats()
            let ref = NaiveKernels.reduce(op, xs, shape: x.shape, axes: norm)
            #expect(got.count == ref.count)
            for (g, r) in zip(got, ref) {
                #expect(
                    Swift.abs(g - r) <= 1e-5 * Swift.max(Swift.abs(r), 1),
                    "\(op) axes \(String(describing: axes))")
            }
        }
        var dropped = x.shape
        for a in norm.sorted(by: >) { dropped.remove(at: a) }
        #expect(x.sum(axes: axes).shape == dropped)
    }

    @Test func longFullSumUsesBlocksAndMatchesTwin() {
        // 300k uniform values: blocked pairwise-ish summation keeps the relative error ~1e-6;
        // 1e-5 leaves margin while catching a dropped or doubled block (error ≥ 0.2).
        let x = randomTensor([300_001], seed: 41, low: 0, high: 1)
        let ref = NaiveKernels.reduce(.sum, x.toFloats(), shape: [300_001], axes: [0])[0]
        #expect(Swift.abs(x.sum().item - ref) <= 1e-5 * ref)
        #expect(x.max().item == x.toFloats().max())
    }

    @Test func knownValues() {
        let x = Tensor([1, 2, 3, 4], shape: [2, 2])
        #expect(x.mean().item == 2.5)
        #expect(x.mean(axes: [0]).toFloats() == [2, 3])
        // torch.var([1,2,3,4]) = 1.6666666 (unbiased), 1.25 biased.
        #expect(Swift.abs(x.variance().item - 1.6666666) < 1e-6)
        #expect(x.variance(unbiased: false).item == 1.25)
        #expect(x.variance(axes: [1], keepDims: true, unbiased: false).toFloats() == [0.25, 0.25])
        #expect(x.variance(axes: [1], keepDims: true).shape == [2, 1])
        let t = Tensor([1, 5, 5, 2, 7, 7, 0, 7], shape: [2, 4])
        #expect(t.argmax(axis: 1).toInts() == [1, 0])  // first of the tied maxima
        #expect(t.argmax(axis: 1).dtype == .int64)
        #expect(t.argmax(axis: 0).toInts() == [1, 1, 0, 1])
        #expect(t.argmax().toInts() == [4])
        #expect(t.argmax(axis: -1, keepDims: true).shape == [2, 1])
        #expect(Tensor([1, .nan, 3], shape: [3]).argmax().toInts() == [1])
        #expect(Tensor([1, .nan, 3], shape: [3]).max().item.isNaN)
    }

    @Test func maxTiesShareGradient() {
        // amax semantics: the gradient is split evenly among tied maxima.
        let x = Tensor([1, 3, 3, 2], shape: [4]).requiringGrad()
        x.max().backward()
        #expect(x.grad?.toFloats() == [0, 0.5, 0.5, 0])
        let y = Tensor([4, 1, 4, 0, 2, 2], shape: [2, 3]).requiringGrad()
        y.min(axes: [1]).sum().backward()
        #expect(y.grad?.toFloats() == [0, 1, 0, 1, 0, 0])
    }

    @Test func reductionGradients() {
        let x = randomTensor([4, 3, 5], seed: 42)
        gradCheck([x]) { $0[0].sum() }
        gradCheck([x]) { $0[0].transpose(0, 2).sum(axes: [0, 2]) }
        gradCheck([x]) { $0[0].mean(axes: [1], keepDims: true) }
        gradCheck([x]) { $0[0].permute([2, 0, 1]).mean(axes: [0, 2]) }
        gradCheck([x]) { $0[0].variance(axes: [0, 2]) }
        gradCheck([x]) {
            $0[0].transpose(1, 2).variance(axes: [-1], keepDims: true, unbiased: false)
        }
        // A permutation of 0, 0.1, ..., 2.3: no two values are within 2h = 0.02, so finite
        // differences never move the argmax.
        let y = Tensor((0..<24).map { Float(($0 * 7) % 24) * 0.1 }, shape: [4, 6])
        gradCheck([y]) { $0[0].max(axes: [1]) }
        gradCheck([y]) { $0[0].transpose(0, 1).min(axes: [0], keepDims: true) }
        gradCheck([y]) { $0[0].max() }
    }

    // MARK: Softmax

    @Test func softmaxMatchesNaiveTwinIncludingInfinities() {
        // Rows with large magnitudes and -inf entries (masked attention). Float softmax of
        // well-scaled inputs is accurate to a few ulp; 2e-6 absolute on probabilities and
        // 2e-5 relative on log-probabilities (which reach ~-100) bound that.
        let cols = 37
        var xs = randomTensor([5, cols], seed: 43, low: -30, high: 30).toFloats()
        xs[0] = -.infinity
        xs[3] = -.infinity
        for i in 0..<cols where i % 2 == 0 { xs[cols + i] = -.infinity }
        for i in 0..<cols { xs[2 * cols + i] = 1e4 + Float(i) }
        let x = Tensor(xs, shape: [5, cols])
        let p = x.softmax(axis: -1).toFloats()
        let refP = NaiveKernels.softmaxRows(xs, cols: cols, log: false)
        for (g, r) in zip(p, refP) { #expect(Swift.abs(g - r) <= 2e-6) }
        let lp = x.logSoftmax(axis: 1).toFloats()
        let refL = NaiveKernels.softmaxRows(xs, cols: cols, log: true)
        for (g, r) in zip(lp, refL) {
            if r == -.infinity {
                #expect(g == -.infinity)
            } else {
                #expect(Swift.abs(g - r) <= 2e-5 * Swift.max(1, Swift.abs(r)))
            }
        }
        // A fully masked row gives NaN, as PyTorch.
        let masked = Tensor([-.infinity, -.infinity], shape: [1, 2]).softmax(axis: -1).toFloats()
        #expect(masked.allSatisfy { $0.isNaN })
    }

    @Test func softmaxOverNonLastAxis() {
        // Same arithmetic per row, only the layout differs: results must agree to rounding.
        let x = randomTensor([3, 4, 5], seed: 44)
        let a = x.softmax(axis: 1).toFloats()
        let b = x.transpose(1, 2).contiguous().softmax(axis: -1).transpose(1, 2).contiguous()
            .toFloats()
        for (u, v) in zip(a, b) { #expect(Swift.abs(u - v) <= 1e-7) }
        let s = x.softmax(axis: 0).sum(axes: [0]).toFloats()
        for v in s { #expect(Swift.abs(v - 1) < 1e-6) }
    }

    @Test func softmaxGradients() {
        let x = randomTensor([3, 4, 5], seed: 45)
        gradCheck([x]) { $0[0].softmax(axis: -1) }
        gradCheck([x]) { $0[0].logSoftmax(axis: -1) }
        gradCheck([x]) { $0[0].softmax(axis: 0) }
        gradCheck([x]) { $0[0].transpose(0, 2).logSoftmax(axis: 1) }
    }
}
