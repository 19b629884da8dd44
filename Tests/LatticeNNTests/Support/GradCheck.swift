// Finite-difference gradient checks for LatticeNN tests: with respect to input tensors (losses)
// and to a module's parameters (layers). Same method as LatticeTensorTests' gradCheck, which this
// target cannot see.
import LatticeNN
import LatticeTensor
import Testing

/// Compares autodiff gradients of `f` with central finite differences (float64 accumulation of
/// the float32 function) on the scalar L = Σ f(inputs) ⊙ w for a fixed random w.
/// Returns the worst relative error.
///
/// Tolerance rationale: h = 1e-2 in float32 gives O(h²) truncation plus ~1e-7·|L|/h rounding;
/// 2e-2 relative (against max(1, |grad|)) catches wrong rules (errors of order 1) without flaking.
@discardableResult
func gradCheck(
    _ inputs: [Tensor], h: Float = 1e-2, tolerance: Double = 2e-2, seed: UInt64 = 7,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ f: ([Tensor]) -> Tensor
) -> Double {
    var gen = RandomGenerator(seed: seed)
    let leaves = inputs.map { $0.detach().requiringGrad() }
    let y = f(leaves)
    let w = Tensor.randn(y.shape, generator: &gen)
    let wv = w.toFloats().map(Double.init)
    y.backward(w)

    func loss(_ xs: [Tensor]) -> Double {
        let out = withNoGrad { f(xs) }.toFloats()
        return zip(out, wv).reduce(0) { $0 + Double($1.0) * $1.1 }
    }

    var worst = 0.0
    for (idx, leaf) in leaves.enumerated() {
        guard let g = leaf.grad?.toFloats() else {
            Issue.record("input \(idx) received no gradient", sourceLocation: sourceLocation)
            continue
        }
        let base = leaf.contiguous().toFloats()
        for j in base.indices {
            var plus = base
            var minus = base
            plus[j] += h
            minus[j] -= h
            var xsP = leaves.map { $0.detach() }
            var xsM = leaves.map { $0.detach() }
            xsP[idx] = Tensor(plus, shape: leaf.shape)
            xsM[idx] = Tensor(minus, shape: leaf.shape)
            let numeric = (loss(xsP) - loss(xsM)) / (2 * Double(h))
            let err = abs(numeric - Double(g[j])) / max(1, abs(numeric))
            worst = max(worst, err)
            if err > tolerance {
                Issue.record(
                    "input \(idx) element \(j): autodiff \(g[j]) vs numeric \(numeric)",
                    sourceLocation: sourceLocation)
                return worst
            }
        }
    }
    return worst
}

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
