// The scalar the per-Gaussian stages are written over: Float for the forward pass (kept in the
// operation order of gsplat's torch reference, for fixture parity) and `SplatDual` (forward-mode
// derivatives in Double) for the backward pass of the projection and SH stages.
import Foundation

/// Arithmetic the per-Gaussian stages need; branches read `primal`.
public protocol SplatReal {
    init(_ constant: Float)
    /// The value (derivatives dropped), for comparisons and branch decisions.
    var primal: Double { get }
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    static func / (a: Self, b: Self) -> Self
    static prefix func - (a: Self) -> Self
    /// Square root (upstream `torch.sqrt`).
    func squareRoot() -> Self
    /// Exp (upstream `torch.exp`).
    func exponential() -> Self
    /// self + a b with one rounding (where upstream's GEMM fuses it).
    func fusedAdding(_ a: Self, times b: Self) -> Self
}

extension Float: SplatReal {
    public var primal: Double { Double(self) }
    @inline(__always) public func exponential() -> Float { Foundation.exp(self) }
    @inline(__always) public func fusedAdding(_ a: Float, times b: Float) -> Float {
        addingProduct(a, b)
    }
}

/// A value with derivatives along up to 16 input directions (forward-mode AD).
public struct SplatDual: SplatReal {
    public var value: Double
    public var tangent: SIMD16<Double>

    @inline(__always) public init(_ value: Double, tangent: SIMD16<Double> = .zero) {
        self.value = value
        self.tangent = tangent
    }

    /// An input variable: `value` with derivative 1 along direction `index`.
    @inline(__always) public init(variable value: Double, index: Int) {
        self.value = value
        var t = SIMD16<Double>.zero
        t[index] = 1
        self.tangent = t
    }

    @inline(__always) public init(_ constant: Float) { self.init(Double(constant)) }
    public var primal: Double { value }

    @inline(__always) public static func + (a: Self, b: Self) -> Self {
        SplatDual(a.value + b.value, tangent: a.tangent + b.tangent)
    }
    @inline(__always) public static func - (a: Self, b: Self) -> Self {
        SplatDual(a.value - b.value, tangent: a.tangent - b.tangent)
    }
    @inline(__always) public static func * (a: Self, b: Self) -> Self {
        SplatDual(a.value * b.value, tangent: a.tangent * b.value + b.tangent * a.value)
    }
    @inline(__always) public static func / (a: Self, b: Self) -> Self {
        let q = a.value / b.value
        return SplatDual(q, tangent: (a.tangent - b.tangent * q) / b.value)
    }
    @inline(__always) public static prefix func - (a: Self) -> Self {
        SplatDual(-a.value, tangent: -a.tangent)
    }
    @inline(__always) public func squareRoot() -> Self {
        let s = value.squareRoot()
        // d sqrt(x) = dx / (2 sqrt x); at 0 the derivative is dropped instead of made infinite.
        return SplatDual(s, tangent: s > 0 ? tangent / (2 * s) : .zero)
    }
    @inline(__always) public func fusedAdding(_ a: Self, times b: Self) -> Self { self + a * b }
    @inline(__always) public func exponential() -> Self {
        let e = Foundation.exp(value)
        return SplatDual(e, tangent: tangent * e)
    }
}

/// `x` clamped to [lo, hi] with torch's gradient rule: the derivative passes when lo <= x <= hi.
@inline(__always) func clamp<T: SplatReal>(_ x: T, lo: T, hi: T) -> T {
    if x.primal < lo.primal { return lo }
    if x.primal > hi.primal { return hi }
    return x
}

/// max(x, lo) with torch's `clamp(min:)` gradient rule (passes when x >= lo).
@inline(__always) func clampMin<T: SplatReal>(_ x: T, _ lo: T) -> T {
    x.primal < lo.primal ? lo : x
}
