// Elementwise ops: fast kernels against their naive twins, known values, broadcasting,
// comparisons, and finite-difference checks of every backward rule.
import Foundation
import LatticeTestSupport
import Testing

@testable import LatticeTensor

/// Random float32 tensor with values in [low, high).
func randomTensor(_ shape: [Int], seed: UInt64, low: Float = -2, high: Float = 2) -> Tensor {
    var g = RandomGenerator(seed: seed)
    return Tensor.rand(shape, low: low, high: high, generator: &g)
}

/// Random values whose magnitude is in [0.2, 2): finite differences with h = 1e-2 never straddle
/// a kink at 0 (relu, abs, sign) or a pole (log, division).
func awayFromZero(_ shape: [Int], seed: UInt64) -> Tensor {
    var g = RandomGenerator(seed: seed)
    let u = g.uniform(count: Tensor.count(of: shape))
    let s = g.uniform(count: u.count)
    return Tensor(zip(u, s).map { (0.2 + 1.8 * $0) * ($1 < 0.5 ? -1 : 1) }, shape: shape)
}

/// Worst error of `fast` against `reference` relative to max(|reference|, floor), divided by
/// each element's conditioning (≥ 1); non-finite reference values must be matched exactly.
func worstRelativeError(
    _ fast: [Float], _ reference: [Float], conditioning: [Float]? = nil, floor: Float = 1e-30
) -> Float {
    var worst: Float = 0
    for (i, (f, r)) in zip(fast, reference).enumerated() {
        let cond = conditioning?[i] ?? 1
        if !r.isFinite {
            if r.isNaN ? !f.isNaN : f != r { return .infinity }
            continue
        }
        if !f.isFinite { return .infinity }
        worst = Swift.max(worst, Swift.abs(f - r) / Swift.max(Swift.abs(r), floor) / cond)
    }
    return worst
}

/// Hand-picked extremes (large |x|, overflow and underflow edges, kernel branch points)
/// followed by random normal and wide uniform values.
func extremeInputs(seed: UInt64) -> [Float] {
    let edges: [Float] = [
        0, -0.0, 1e-8, -1e-8, 1e-3, -1e-3, 0.5, -0.5, 0.62, -0.62, 0.625, -0.625, 1, -1, 3, -3, 5,
        -5, 7.07, -7.07, 9.5, -9.5, 10, -10, 15, -15, 20, -20, 30, -30, 44, -44, 50, -50, 87, -87,
        88.5, -88.5, 88.7, -88.7, 89, -89, 100, -100, 103, -103, 104, -104, 200, -200, 1000,
        -1000, .infinity, -.infinity,
    ]
    var g = RandomGenerator(seed: seed)
    let normal = g.normal(count: 2000).map { $0 * 4 }
    let wide = g.uniform(count: 1000).map { $0 * 240 - 120 }
    return edges + normal + wide
}

@Suite struct ElementwiseTests {
    // MARK: Naive twins

    /// Per-op relative tolerance (against the Double-precision definition rounded to float):
    /// exact IEEE ops (neg/abs/relu/clamp/sqrt) are correctly rounded; 1/√x, x² and libm logf
    /// round twice (≤ 2 ulp ≈ 2.4e-7); the exp polynomial is ~1 ulp but x/(1+e^-x)-style forms
    /// chain 3-4 roundings and the tanh exp form loses ~1 bit near |x| = 0.625, so 1e-6
    /// (8 ulp); the erfc fit has 1.2e-7 fractional error plus evaluation rounding, 2e-6.
    static let cases: [(UnaryOp, Float, Float, Float, Bool)] = [
        // op, a, b, tolerance, positive inputs only
        (.neg, 0, 0, 0, false), (.abs, 0, 0, 0, false), (.sign, 0, 0, 0, false),
        (.relu, 0, 0, 0, false), (.clamp, -0.5, 2, 0, false), (.square, 0, 0, 2.5e-7, false),
        (.sqrt, 0, 0, 1.2e-7, true), (.rsqrt, 0, 0, 2.5e-7, true), (.log, 0, 0, 2.5e-7, true),
        (.exp, 0, 0, 4e-7, false), (.tanh, 0, 0, 1e-6, false), (.sigmoid, 0, 0, 1e-6, false),
        (.silu, 0, 0, 1e-6, false), (.quickGelu, 0, 0, 1e-6, false),
        (.geluTanh, 0, 0, 1e-6, false), (.gelu, 0, 0, 2e-6, false),
        (.softplus, 1, 20, 1e-6, false), (.softplus, 2, 10, 1e-6, false),
        (.pow, 2, 0, 2.5e-7, false), (.pow, 3, 0, 5e-7, false), (.pow, 0.5, 0, 1.2e-7, true),
        (.pow, 1.7, 0, 5e-7, true), (.pow, -1, 0, 1.2e-7, true),
    ]

    /// Ops whose exp/erfc argument is itself computed in float (1.702x, 2u(x), x/√2, as
    /// PyTorch does) inherit that rounding amplified by |argument| (d e^y / e^y = dy). No
    /// implementation evaluating the argument in float32 can beat it, so the error is measured
    /// in units of max(1, |argument|).
    static func conditioning(_ op: UnaryOp, _ x: Float) -> Float {
        switch op {
        case .quickGelu: return Swift.max(1, 1.702 * Swift.abs(x))
        case .geluTanh: return Swift.max(1, 1.6 * Swift.abs(x + 0.044715 * x * x * x))
        case .gelu: return Swift.max(1, x * x)
        default: return 1
        }
    }

    @Test(arguments: cases.indices)
    func fastKernelMatchesNaiveTwin(_ i: Int) {
        let (op, a, b, tol, positive) = Self.cases[i]
        var xs = extremeInputs(seed: UInt64(10 + i))
        if positive { xs = xs.map { Swift.abs($0) } }
        let fast = ElementwiseKernels.unary(op, Tensor(xs, shape: [xs.count]), a, b).toFloats()
        let ref = NaiveKernels.unary(op, xs, a, b)
        let err = worstRelativeError(fast, ref, conditioning: xs.map { Self.conditioning(op, $0) })
        #expect(err <= tol, "\(op)(a: \(a), b: \(b)): worst relative error \(err) > \(tol)")
    }

    @Test(arguments: [UnaryOp.sigmoid, .silu, .quickGelu, .geluTanh])
    func largeOutputVectorPathMatchesNaiveTwin(_ op: UnaryOp) {
        // 4M + 13 floats: each thread's chunk takes the non-temporal 16-wide path, and the odd
        // length leaves an unaligned chunk start (scalar head) and a scalar tail. Same
        // tolerance model as the small-input twin test (1e-6 per unit of conditioning).
        let n = (1 << 22) + 13
        var g = RandomGenerator(seed: 77)
        let xs = g.normal(count: n).map { $0 * 6 }
        let fast = ElementwiseKernels.unary(op, Tensor(xs, shape: [n])).toFloats()
        let ref = NaiveKernels.unary(op, xs)
        let err = worstRelativeError(fast, ref, conditioning: xs.map { Self.conditioning(op, $0) })
        #expect(err <= 1e-6, "\(op): worst relative error \(err)")
    }

    @Test func erfcApproximationMatchesLibm() {
        // The erfc fit's 1.2e-7 fractional error plus float rounding; checked deep into the
        // tail (erfc(9) ~ 4e-37) where a naive exp(-z²) would lose all digits.
        var worst: Float = 0
        for k in 0...900 {
            let z = Float(k) * 0.01
            let e = Swift.abs(lt_fast_erfcf_swift(z) - NaiveKernels.erfc(z)) / NaiveKernels.erfc(z)
            worst = Swift.max(worst, e)
        }
        #expect(worst < 2e-6, "worst erfc relative error \(worst)")
    }

    @Test func nanPropagates() {
        let x = Tensor([.nan, 1], shape: [2])
        for op in [UnaryOp.exp, .tanh, .sigmoid, .gelu, .geluTanh, .silu, .relu, .clamp] {
            #expect(ElementwiseKernels.unary(op, x, -1, 1).toFloats()[0].isNaN, "\(op)")
        }
        #expect(maximum(x, Tensor(scalar: 0)).toFloats()[0].isNaN)
        #expect(minimum(Tensor(scalar: 0), x).toFloats()[0].isNaN)
    }

    // MARK: Known values

    @Test func knownValues() {
        // Reference values (PyTorch float32 / Python double); 2e-7 absolute is ~2 ulp here.
        let one = Tensor([1], shape: [1])
        #expect(Swift.abs(one.gelu().item - 0.8413447) < 2e-7)
        #expect(Swift.abs(one.gelu(approximate: .tanh).item - 0.841192) < 2e-7)
        #expect(Swift.abs(one.quickGelu().item - 0.8457958) < 2e-7)
        #expect(Swift.abs(one.silu().item - 0.7310586) < 2e-7)
        // softplus is exactly linear above the threshold and log1p(e^x) below it.
        let x = Tensor([25, 20, 1, -30], shape: [4])
        let sp = x.softplus().toFloats()
        #expect(sp[0] == 25)
        #expect(Swift.abs(sp[1] - 20) < 2e-6)
        #expect(Swift.abs(sp[2] - 1.3132616) < 2e-7)
        #expect(Swift.abs(sp[3] - 9.357623e-14) < 1e-19)
        let sp2 = Tensor([6, 4], shape: [2]).softplus(beta: 2, threshold: 10).toFloats()
        #expect(sp2[0] == 6)
        #expect(Swift.abs(sp2[1] - Float(Foundation.log1p(Foundation.exp(8.0)) / 2)) < 1e-6)
        #expect(Tensor([-2, 0.5, 3], shape: [3]).clamp(min: -1).toFloats() == [-1, 0.5, 3])
        #expect(Tensor([-2, 0.5, 3], shape: [3]).clamp(max: 1).toFloats() == [-2, 0.5, 1])
        #expect(Tensor([-2, 0, 3], shape: [3]).sign().toFloats() == [-1, 0, 1])
    }

    // MARK: Broadcasting and fast paths

    @Test func broadcastingMatchesExplicitExpand() {
        // Exact: each output element is one float op on the same operands either way.
        let a = randomTensor([3, 1, 4], seed: 1)
        let b = randomTensor([2, 1], seed: 2)
        let shape = [3, 2, 4]
        let ae = a.expand(shape).contiguous().toFloats()
        let be = b.expand(shape).contiguous().toFloats()
        #expect((a + b).shape == shape)
        #expect((a + b).toFloats() == zip(ae, be).map { $0 + $1 })
        #expect((a - b).toFloats() == zip(ae, be).map { $0 - $1 })
        #expect((a * b).toFloats() == zip(ae, be).map { $0 * $1 })
        #expect((a / b).toFloats() == zip(ae, be).map { $0 / $1 })
        #expect(maximum(a, b).toFloats() == zip(ae, be).map { Swift.max($0, $1) })
        #expect(minimum(a, b).toFloats() == zip(ae, be).map { Swift.min($0, $1) })
        #expect(a.lt(b).toInts() == zip(ae, be).map { $0 < $1 ? 1 : 0 })
        #expect(a.lt(b).dtype == .bool)
    }

    @Test func rowBiasScalarAndStridedPaths() {
        let x = randomTensor([64, 300], seed: 3)  // long enough to split across threads
        let bias = randomTensor([300], seed: 4)
        let xs = x.toFloats()
        let bs = bias.toFloats()
        let y = (x + bias).toFloats()
        #expect(y == xs.indices.map { xs[$0] + bs[$0 % 300] })
        #expect((x * 3).toFloats() == xs.map { $0 * 3 })
        #expect((1 - x).toFloats() == xs.map { 1 - $0 })
        #expect((2 / x).toFloats() == xs.map { 2 / $0 })
        // Transposed operand: the general strided path.
        let t = x.transpose(0, 1)  // [300, 64]
        let u = randomTensor([300, 64], seed: 5)
        let ref = zip(t.contiguous().toFloats(), u.toFloats()).map { $0 * $1 }
        #expect((t * u).toFloats() == ref)
        // Column broadcast [64, 1] on [64, 300].
        let col = randomTensor([64, 1], seed: 6)
        let cs = col.toFloats()
        #expect((x - col).toFloats() == xs.indices.map { xs[$0] - cs[$0 / 300] })
    }

    @Test func comparisonsAndWhere() {
        let a = Tensor([1, 2, 3, .nan], shape: [4])
        let b = Tensor([2, 2, 2, 2], shape: [4])
        #expect(a.lt(b).toInts() == [1, 0, 0, 0])
        #expect(a.gt(b).toInts() == [0, 0, 1, 0])
        #expect(a.le(b).toInts() == [1, 1, 0, 0])
        #expect(a.ge(b).toInts() == [0, 1, 1, 0])
        #expect(a.eq(b).toInts() == [0, 1, 0, 0])
        #expect(a.ne(b).toInts() == [1, 0, 1, 1])
        #expect(a.ge(2).toInts() == [0, 1, 1, 0])
        let c = Tensor([1, 0], shape: [2, 1]).ne(0)
        let w = `where`(c, Tensor([1, 2, 3], shape: [3]), Tensor(scalar: -1))
        #expect(w.shape == [2, 3])
        #expect(w.toFloats() == [1, 2, 3, -1, -1, -1])
    }

    @Test func maximumTieSplitsGradient() {
        let a = Tensor([1, 2, 3], shape: [3]).requiringGrad()
        let b = Tensor([2, 2, 2], shape: [3]).requiringGrad()
        maximum(a, b).sum().backward()
        #expect(a.grad?.toFloats() == [0, 0.5, 1])
        #expect(b.grad?.toFloats() == [1, 0.5, 0])
    }

    // MARK: Gradients (gradCheck tolerance rationale is in Support/GradCheck.swift)

    @Test(arguments: [
        UnaryOp.exp, .log, .sqrt, .rsqrt, .abs, .tanh, .sigmoid, .silu, .relu, .gelu, .geluTanh,
        .quickGelu, .neg, .square,
    ])
    func unaryGradient(_ op: UnaryOp) {
        let positive: Set<UnaryOp> = [.log, .sqrt, .rsqrt]
        var x = awayFromZero([4, 3], seed: UInt64(op.rawValue) + 100)
        if positive.contains(op) { x = x.abs() }
        // Transposed input exercises the non-contiguous path.
        gradCheck([x]) { $0[0].transpose(0, 1).unaryOp(op) }
    }

    @Test func parameterisedUnaryGradients() {
        let x = awayFromZero([3, 5], seed: 21)
        gradCheck([x]) { $0[0].softplus() }
        gradCheck([x]) { $0[0].softplus(beta: 2, threshold: 1) }
        gradCheck([x.abs()]) { $0[0].pow(1.7) }
        gradCheck([x]) { $0[0].pow(3) }
        gradCheck([x]) { $0[0].pow(2) }
        // Every input is at least 0.2 from the clamp bounds, so no step crosses a kink.
        let y = Tensor([-1.5, -0.6, -0.2, 0.3, 0.7, 1.8], shape: [2, 3])
        gradCheck([y]) { $0[0].clamp(min: -0.4, max: 1.0) }
        gradCheck([y]) { $0[0].clamp(min: 0.5) }
        gradCheck([y]) { $0[0].gelu().sign() * $0[0] }
    }

    @Test func binaryGradientsWithBroadcasting() {
        let a = randomTensor([3, 1, 4], seed: 31)
        let b = awayFromZero([2, 1], seed: 32)
        gradCheck([a, b]) { $0[0] + $0[1] }
        gradCheck([a, b]) { $0[0] - $0[1] }
        gradCheck([a, b]) { $0[0] * $0[1] }
        gradCheck([a, b]) { $0[0] / $0[1] }
        gradCheck([a]) { 2 - $0[0] * 3 + 1 }
        gradCheck([b]) { 1 / $0[0] - $0[0] / 4 }
        // Non-contiguous operands: a transposed [4, 3] against a sliced row vector.
        let m = randomTensor([3, 4], seed: 33)
        let v = randomTensor([1, 6], seed: 34)
        gradCheck([m, v]) { $0[0].transpose(0, 1) * $0[1].slice(1, 0, 6, step: 2) }
        // pow with positive bases and a broadcast exponent.
        let base = randomTensor([3, 4], seed: 35, low: 0.5, high: 2)
        let ex = randomTensor([4], seed: 36, low: -1.5, high: 1.5)
        gradCheck([base, ex]) { $0[0].pow($0[1]) }
    }

    @Test func minMaxWhereGradients() {
        // Separated values so no finite-difference step crosses a tie.
        let a = Tensor([-1.0, 0.4, 1.1, -0.7, 2.0, 0.1], shape: [2, 3])
        let b = Tensor([0.2, 0.9, -0.5], shape: [3])
        gradCheck([a, b]) { maximum($0[0], $0[1]) }
        gradCheck([a, b]) { minimum($0[0], $0[1]) }
        let cond = Tensor([1, 0, 1, 0, 0, 1], shape: [2, 3])
        gradCheck([a, b]) { `where`(cond, $0[0], $0[1]) }
        gradCheck([a]) {
            `where`(cond.ne(0), $0[0].transpose(0, 1).transpose(0, 1), Tensor(scalar: 0))
        }
    }
}

/// Swift face of the C erfc approximation for the twin test.
func lt_fast_erfcf_swift(_ z: Float) -> Float {
    ElementwiseKernels.fastErfc(z)
}
