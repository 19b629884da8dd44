// Differentiable elementwise ops and their backward rules: arithmetic with broadcasting,
// minimum/maximum/pow/where, comparisons (no gradient) and the unary activations. Forward
// kernels are in Kernels/Elementwise.swift. Gradients follow PyTorch's conventions (noted
// per rule where a choice exists at kinks and ties).

/// How `gelu` evaluates the Gaussian CDF (as PyTorch's `approximate=` argument).
public enum GeluApproximation: Sendable {
    /// Exact: x·Φ(x) with Φ from erf.
    case none
    /// 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
    case tanh
}

extension Tensor {
    /// Sums a broadcast gradient back to `target` with the fast reduction kernels.
    func reduceGradient(to target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        precondition(lead >= 0, "cannot reduce gradient \(shape) to \(target)")
        var axes = Set(0..<lead)
        for i in lead..<rank where target[i - lead] == 1 && shape[i] != 1 { axes.insert(i) }
        let src = float()
        let summed =
            axes.isEmpty ? src.rawContiguous() : ReduceKernels.reduce(.sum, src, axes: axes)
        return Tensor(
            storage: summed.storage, shape: target, strides: Tensor.contiguousStrides(for: target),
            offset: summed.offset, dtype: .float32)
    }

    // MARK: Binary

    /// Applies a broadcasting binary op and records its backward rule.
    static func binaryOp(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        let a = a.float()
        let b = b.float()
        let out = ElementwiseKernels.binary(op, a, b)
        let sa = a.shape
        let sb = b.shape
        return record("\(op)", output: out, inputs: [a, b]) { g in
            let needA = a.requiresGrad
            let needB = b.requiresGrad
            var ga: Tensor? = nil
            var gb: Tensor? = nil
            switch op {
            case .add:
                ga = needA ? g : nil
                gb = needB ? g : nil
            case .sub:
                ga = needA ? g : nil
                gb = needB ? -g : nil
            case .mul:
                ga = needA ? g * b : nil
                gb = needB ? g * a : nil
            case .div:
                ga = needA ? g / b : nil
                gb = needB ? -(g * out) / b : nil
            case .minimum, .maximum:
                // PyTorch: the larger (smaller) input takes the gradient; ties split it in half.
                let half = g * 0.5
                let zero = Tensor(scalar: 0)
                let aWins = op == .maximum ? a.gt(b) : a.lt(b)
                let bWins = op == .maximum ? b.gt(a) : b.lt(a)
                let tie = a.eq(b)
                if needA { ga = `where`(aWins, g, `where`(tie, half, zero)) }
                if needB { gb = `where`(bWins, g, `where`(tie, half, zero)) }
            case .pow:
                // d/da = b·a^(b-1); d/db = a^b·log(a), taken as 0 where a == 0 and b >= 0
                // (PyTorch masks the 0·log 0 = NaN case the same way).
                if needA { ga = g * b * a.pow(b - 1) }
                if needB {
                    let safe = `where`(
                        a.eq(0).logicalAnd(b.ge(0)), Tensor(scalar: 0), out * a.log())
                    gb = g * safe
                }
            }
            return [ga?.reduceGradient(to: sa), gb?.reduceGradient(to: sb)]
        }
    }

    /// Elementwise sum with broadcasting.
    public static func + (a: Tensor, b: Tensor) -> Tensor { binaryOp(.add, a, b) }
    /// Elementwise difference with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor { binaryOp(.sub, a, b) }
    /// Elementwise product with broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor { binaryOp(.mul, a, b) }
    /// Elementwise quotient with broadcasting.
    public static func / (a: Tensor, b: Tensor) -> Tensor { binaryOp(.div, a, b) }

    /// Adds a scalar.
    public static func + (a: Tensor, b: Float) -> Tensor { binaryOp(.add, a, Tensor(scalar: b)) }
    /// Subtracts a scalar.
    public static func - (a: Tensor, b: Float) -> Tensor { binaryOp(.sub, a, Tensor(scalar: b)) }
    /// Multiplies by a scalar.
    public static func * (a: Tensor, b: Float) -> Tensor { binaryOp(.mul, a, Tensor(scalar: b)) }
    /// Divides by a scalar.
    public static func / (a: Tensor, b: Float) -> Tensor { binaryOp(.div, a, Tensor(scalar: b)) }
    /// Scalar plus tensor.
    public static func + (a: Float, b: Tensor) -> Tensor { binaryOp(.add, Tensor(scalar: a), b) }
    /// Scalar minus tensor.
    public static func - (a: Float, b: Tensor) -> Tensor { binaryOp(.sub, Tensor(scalar: a), b) }
    /// Scalar times tensor.
    public static func * (a: Float, b: Tensor) -> Tensor { binaryOp(.mul, Tensor(scalar: a), b) }
    /// Scalar divided by tensor.
    public static func / (a: Float, b: Tensor) -> Tensor { binaryOp(.div, Tensor(scalar: a), b) }

    /// Negation.
    public static prefix func - (a: Tensor) -> Tensor { a.unaryOp(.neg) }

    /// Elementwise power with a tensor exponent (broadcasting).
    public func pow(_ exponent: Tensor) -> Tensor { Tensor.binaryOp(.pow, self, exponent) }

    // MARK: Comparisons (no gradient)

    private func compare(_ op: CompareOp, _ other: Tensor) -> Tensor {
        ElementwiseKernels.compare(op, float(), other.float())
    }

    /// `self < other` elementwise, as `.bool`.
    public func lt(_ other: Tensor) -> Tensor { compare(.lt, other) }
    /// `self > other` elementwise, as `.bool`.
    public func gt(_ other: Tensor) -> Tensor { compare(.gt, other) }
    /// `self <= other` elementwise, as `.bool`.
    public func le(_ other: Tensor) -> Tensor { compare(.le, other) }
    /// `self >= other` elementwise, as `.bool`.
    public func ge(_ other: Tensor) -> Tensor { compare(.ge, other) }
    /// `self == other` elementwise, as `.bool`.
    public func eq(_ other: Tensor) -> Tensor { compare(.eq, other) }
    /// `self != other` elementwise, as `.bool`.
    public func ne(_ other: Tensor) -> Tensor { compare(.ne, other) }
    /// `self < value` elementwise, as `.bool`.
    public func lt(_ value: Float) -> Tensor { compare(.lt, Tensor(scalar: value)) }
    /// `self > value` elementwise, as `.bool`.
    public func gt(_ value: Float) -> Tensor { compare(.gt, Tensor(scalar: value)) }
    /// `self <= value` elementwise, as `.bool`.
    public func le(_ value: Float) -> Tensor { compare(.le, Tensor(scalar: value)) }
    /// `self >= value` elementwise, as `.bool`.
    public func ge(_ value: Float) -> Tensor { compare(.ge, Tensor(scalar: value)) }
    /// `self == value` elementwise, as `.bool`.
    public func eq(_ value: Float) -> Tensor { compare(.eq, Tensor(scalar: value)) }
    /// `self != value` elementwise, as `.bool`.
    public func ne(_ value: Float) -> Tensor { compare(.ne, Tensor(scalar: value)) }

    /// Elementwise AND of two masks (nonzero is true), as `.bool`.
    func logicalAnd(_ other: Tensor) -> Tensor {
        ElementwiseKernels.compare(
            .ne, asMask().float() * other.asMask().float(), Tensor(scalar: 0))
    }

    /// This tensor as a 0/1 byte mask (`.bool`/`.uint8` kept, other dtypes compared with 0).
    func asMask() -> Tensor {
        if dtype == .bool || dtype == .uint8 { return self }
        return ne(0)
    }

    // MARK: Unary

    /// Applies a fused unary kernel and records its derivative kernel.
    func unaryOp(_ op: UnaryOp, _ a: Float = 0, _ b: Float = 0) -> Tensor {
        let x = float().contiguous()
        let y = ElementwiseKernels.unary(op, x, a, b)
        return Tensor.record("\(op)", output: y, inputs: [x]) { g in
            [ElementwiseKernels.unaryBackward(op, x: x, y: y, grad: g, a, b)]
        }
    }

    /// e^x (polynomial approximation, ~1 ulp).
    public func exp() -> Tensor { unaryOp(.exp) }
    /// Natural logarithm.
    public func log() -> Tensor { unaryOp(.log) }
    /// Square root.
    public func sqrt() -> Tensor { unaryOp(.sqrt) }
    /// 1/√x.
    public func rsqrt() -> Tensor { unaryOp(.rsqrt) }
    /// |x|; the gradient at 0 is 0 (as PyTorch).
    public func abs() -> Tensor { unaryOp(.abs) }
    /// -1, 0 or 1 (NaN stays NaN); zero gradient.
    public func sign() -> Tensor { unaryOp(.sign) }
    /// Hyperbolic tangent.
    public func tanh() -> Tensor { unaryOp(.tanh) }
    /// Logistic sigmoid 1/(1 + e^-x).
    public func sigmoid() -> Tensor { unaryOp(.sigmoid) }
    /// x·sigmoid(x).
    public func silu() -> Tensor { unaryOp(.silu) }
    /// max(x, 0); the gradient at 0 is 0 (as PyTorch).
    public func relu() -> Tensor { unaryOp(.relu) }
    /// log(1 + e^(βx))/β, and x itself where βx > threshold (PyTorch's linear regime).
    public func softplus(beta: Float = 1, threshold: Float = 20) -> Tensor {
        unaryOp(.softplus, beta, threshold)
    }
    /// GELU, exact (erf) or with PyTorch's tanh approximation.
    public func gelu(approximate: GeluApproximation = .none) -> Tensor {
        unaryOp(approximate == .none ? .gelu : .geluTanh)
    }
    /// x·sigmoid(1.702x), as in CLIP.
    public func quickGelu() -> Tensor { unaryOp(.quickGelu) }
    /// x^p; the gradient is p·x^(p-1) (0 when p == 0).
    public func pow(_ p: Float) -> Tensor { unaryOp(.pow, p) }
    /// Clamps into [min, max] (either bound optional). Gradient passes where
    /// min <= x <= max, bounds included, as PyTorch.
    public func clamp(min: Float? = nil, max: Float? = nil) -> Tensor {
        unaryOp(.clamp, min ?? -.infinity, max ?? .infinity)
    }
    /// x².
    public func square() -> Tensor { unaryOp(.square) }
}

/// Elementwise minimum with broadcasting (NaN propagates; ties split the gradient).
public func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.binaryOp(.minimum, a, b) }

/// Elementwise maximum with broadcasting (NaN propagates; ties split the gradient).
public func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.binaryOp(.maximum, a, b) }

/// `cond ? a : b` elementwise with three-way broadcasting. `cond` is a mask (`.bool`, `.uint8`,
/// or any dtype where nonzero is true); gradients flow to `a` and `b` only.
public func `where`(_ cond: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    let mask = cond.asMask()
    let a = a.float()
    let b = b.float()
    let out = ElementwiseKernels.select(mask, a, b)
    let sa = a.shape
    let sb = b.shape
    return Tensor.record("where", output: out, inputs: [a, b]) { g in
        let zero = Tensor(scalar: 0)
        let ga = a.requiresGrad ? `where`(mask, g, zero).reduceGradient(to: sa) : nil
        let gb = b.requiresGrad ? `where`(mask, zero, g).reduceGradient(to: sb) : nil
        return [ga, gb]
    }
}
