// Finite-difference checks with respect to a module's parameters, and small comparison helpers
// for LatticeNN tests (input gradients use the shared gradCheck in LatticeTestSupport).
import LatticeNN
import LatticeTensor
import Testing

/// Finite-difference check of d(Σ forward() ⊙ w)/dθ for every element of `parameters`, which
/// `forward` must read through their `Parameter`s. Same tolerance rationale as `gradCheck`.
@discardableResult
func parameterGradCheck(
    _ parameters: [Parameter], h: Float = 1e-2, tolerance: Double = 2e-2, seed: UInt64 = 11,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ forward: () -> Tensor
) -> Double {
    var gen = RandomGenerator(seed: seed)
    for p in parameters { p.value.grad = nil }
    let y = forward()
    let w = Tensor.randn(y.shape, generator: &gen)
    let wv = w.toFloats().map(Double.init)
    y.backward(w)
    func loss() -> Double {
        let out = withNoGrad { forward() }.toFloats()
        return zip(out, wv).reduce(0) { $0 + Double($1.0) * $1.1 }
    }
    var worst = 0.0
    for (idx, p) in parameters.enumerated() {
        guard let g = p.value.grad?.toFloats() else {
            Issue.record("parameter \(idx) received no gradient", sourceLocation: sourceLocation)
            continue
        }
        let original = p.value
        let base = original.toFloats()
        for j in base.indices {
            var plus = base
            var minus = base
            plus[j] += h
            minus[j] -= h
            p.assign(Tensor(plus, shape: original.shape))
            let lp = loss()
            p.assign(Tensor(minus, shape: original.shape))
            let lm = loss()
            let numeric = (lp - lm) / (2 * Double(h))
            let err = abs(numeric - Double(g[j])) / max(1, abs(numeric))
            worst = max(worst, err)
            if err > tolerance {
                p.value = original
                Issue.record(
                    "parameter \(idx) element \(j): autodiff \(g[j]) vs numeric \(numeric)",
                    sourceLocation: sourceLocation)
                return worst
            }
        }
        p.value = original
    }
    return worst
}

/// Largest absolute difference between two equal-length arrays.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "lengths \(a.count) and \(b.count) differ")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Largest absolute difference against float64 expectations.
func maxAbsDiff(_ a: [Float], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "lengths \(a.count) and \(b.count) differ")
    return zip(a, b).reduce(0) { max($0, abs(Double($1.0) - $1.1)) }
}

/// Random values for a parameter, so layer tests do not run on zeros.
func randomize(_ module: Module, seed: UInt64) {
    var g = RandomGenerator(seed: seed)
    for (_, p) in module.namedParameters() {
        p.assign(Tensor.randn(p.shape, generator: &g) * 0.5)
    }
}
