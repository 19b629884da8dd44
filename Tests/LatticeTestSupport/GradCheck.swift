// Finite-difference gradient checking shared by every backward-rule test (all test targets).
import LatticeTensor
import Testing

/// Compares autodiff gradients of `f` with central finite differences, in float64 arithmetic on
/// the float32 function. The scalar checked is L = Σ f(inputs) ⊙ w for a fixed random w, so
/// every output element contributes. Returns the worst relative error over all inputs.
///
/// Tolerance rationale: with h = 1e-2 and float32 evaluation, central differences carry
/// O(h²) truncation plus ~1e-7·|L|/h rounding error; 2e-2 relative (against max(1, |grad|))
/// catches wrong rules (errors of order 1) without flaking on rounding.
@discardableResult
public func gradCheck(
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
        var s = 0.0
        for i in out.indices { s += Double(out[i]) * wv[i] }
        return s
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
