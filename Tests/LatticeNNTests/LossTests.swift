// Losses against hand-computed values and their gradients against finite differences.
// Tolerance on values: O(1) float32 results of a few operations, 1e-6 absolute.
import Foundation
import LatticeTensor
import LatticeTestSupport
import Testing

@testable import LatticeNN

private let p = Tensor([0.5, -1, 2, 0.1], shape: [2, 2])
private let t = Tensor([0, 1, 1.5, -0.3], shape: [2, 2])

private func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }

@Suite struct LossTests {
    @Test func mseAndL1() {
        // d = [0.5, -2, 0.5, 0.4]
        #expect(abs(Loss.mse(p, t).item - Float((0.25 + 4 + 0.25 + 0.16) / 4)) < 1e-6)
        #expect(abs(Loss.mse(p, t, reduction: .sum).item - 4.66) < 1e-5)
        #expect(abs(Loss.l1(p, t).item - 3.4 / 4) < 1e-6)
        #expect(Loss.l1(p, t, reduction: .none).shape == [2, 2])
        gradCheck([p, t]) { Loss.mse($0[0], $0[1]) }
        gradCheck([p, t]) { Loss.l1($0[0], $0[1], reduction: .sum) }
    }

    @Test func smoothL1BothBranchesAndBetaZero() {
        // beta 1: |d| = [0.5, 2, 0.5, 0.4] -> [0.125, 1.5, 0.125, 0.08]
        let v = Loss.smoothL1(p, t, beta: 1, reduction: .none).toFloats()
        #expect(maxAbsDiff(v, [0.125, 1.5, 0.125, 0.08] as [Double]) < 1e-6)
        // beta 0.45: 0.5 and 2 take the linear branch, 0.4 the quadratic one.
        let w = Loss.smoothL1(p, t, beta: 0.45, reduction: .none).toFloats()
        #expect(maxAbsDiff(w, [0.275, 1.775, 0.275, 0.08 / 0.45] as [Double]) < 1e-6)
        #expect(Loss.smoothL1(p, t, beta: 0).item == Loss.l1(p, t).item)
        // Away from the kink |d| = beta so finite differences are valid.
        gradCheck([p, t], h: 1e-3) { Loss.smoothL1($0[0], $0[1], beta: 1) }
    }

    @Test func bceWithLogitsIsStableAndCorrect() {
        let x = Tensor([0.5, -1, 2, 30, -40], shape: [5])
        let y = Tensor([0, 1, 0.25, 1, 0], shape: [5])
        let (xv, yv): ([Double], [Double]) = ([0.5, -1, 2, 30, -40], [0, 1, 0.25, 1, 0])
        let ref = zip(xv, yv).map { x, y in
            -(y * Foundation.log(sigmoid(x)) + (1 - y) * Foundation.log(1 - sigmoid(x)))
        }
        let got = Loss.bceWithLogits(x, y, reduction: .none).toFloats()
        let finite = got.allSatisfy { $0.isFinite }
        #expect(finite)
        // Large-|x| terms are ~1e-14 in float64 and exactly representable near 0 in float32.
        #expect(maxAbsDiff(got, ref) < 1e-6)
        #expect(abs(Double(Loss.bceWithLogits(x, y).item) - ref.reduce(0, +) / 5) < 1e-6)
        gradCheck([Tensor([0.5, -1, 2, 0.3], shape: [4]), Tensor([0, 1, 0.25, 0.7], shape: [4])]) {
            Loss.bceWithLogits($0[0], $0[1])
        }
    }

    @Test func diceMatchesTrellisFormula() {
        let logits = Tensor([2, -1, 0.5, -3, 1, 0], shape: [1, 6])
        let target = Tensor([1, 0, 1, 0, 0, 1], shape: [1, 6])
        let s = [2, -1, 0.5, -3, 1, 0].map(sigmoid)
        let ty: [Double] = [1, 0, 1, 0, 0, 1]
        let inter = zip(s, ty).reduce(0) { $0 + $1.0 * $1.1 }
        let ref = 1 - (2 * inter + 1) / (s.reduce(0, +) + ty.reduce(0, +) + 1)
        #expect(abs(Double(Loss.dice(logits, target).item) - ref) < 1e-6)
        #expect(Loss.dice(logits, target).shape == [])
        gradCheck([logits]) { Loss.dice($0[0], target) }
    }

    @Test func gaussianKLMatchesClosedForm() {
        let mean = Tensor([0, 1, -0.5, 2], shape: [2, 2])
        let logvar = Tensor([0, -1, 0.5, 1], shape: [2, 2])
        let (m, lv): ([Double], [Double]) = ([0, 1, -0.5, 2], [0, -1, 0.5, 1])
        let terms = zip(m, lv).map { 0.5 * ($0 * $0 + Foundation.exp($1) - $1 - 1) }
        #expect(
            abs(Double(Loss.kl(mean: mean, logvar: logvar).item) - terms.reduce(0, +) / 4) < 1e-6)
        #expect(
            abs(
                Double(Loss.kl(mean: mean, logvar: logvar, reduction: .sum).item)
                    - terms.reduce(0, +)) < 1e-5)
        // N(0, 1) has zero divergence from itself.
        #expect(Loss.kl(mean: Tensor(zeros: [3]), logvar: Tensor(zeros: [3])).item == 0)
        gradCheck([mean, logvar]) { Loss.kl(mean: $0[0], logvar: $0[1]) }
    }
}
