// Seeded random numbers. Generators are values passed down explicitly (from `--seed`), never
// global state, so the same seed gives the same bits.

import Foundation

/// A counter-based Philox-4x32-10 generator: fast, splittable by offset, reproducible.
public struct RandomGenerator: Sendable {
    public private(set) var seed: UInt64
    private var counter: UInt64 = 0

    public init(seed: UInt64) { self.seed = seed }

    @inline(__always)
    private static func mulhilo(_ a: UInt32, _ b: UInt32) -> (UInt32, UInt32) {
        let p = UInt64(a) &* UInt64(b)
        return (UInt32(truncatingIfNeeded: p >> 32), UInt32(truncatingIfNeeded: p))
    }

    /// Four 32-bit random words for the current counter, then advances the counter.
    public mutating func next4() -> (UInt32, UInt32, UInt32, UInt32) {
        var c0 = UInt32(truncatingIfNeeded: counter)
        var c1 = UInt32(truncatingIfNeeded: counter >> 32)
        var c2: UInt32 = 0
        var c3: UInt32 = 0
        var k0 = UInt32(truncatingIfNeeded: seed)
        var k1 = UInt32(truncatingIfNeeded: seed >> 32)
        for _ in 0..<10 {
            let (hi0, lo0) = Self.mulhilo(0xD251_1F53, c0)
            let (hi1, lo1) = Self.mulhilo(0xCD9E_8D57, c2)
            c0 = hi1 ^ c1 ^ k0
            c1 = lo1
            c2 = hi0 ^ c3 ^ k1
            c3 = lo0
            k0 &+= 0x9E37_79B9
            k1 &+= 0xBB67_AE85
        }
        counter &+= 1
        return (c0, c1, c2, c3)
    }

    /// Uniform floats in [0, 1) with 24 random bits each.
    public mutating func uniform(count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        var i = 0
        while i < count {
            let (a, b, c, d) = next4()
            for w in [a, b, c, d] where i < count {
                out[i] = Float(w >> 8) * (1.0 / 16_777_216.0)
                i += 1
            }
        }
        return out
    }

    /// Standard normal floats (Box–Muller on pairs of uniforms, computed in Double).
    public mutating func normal(count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        var i = 0
        while i < count {
            let (a, b, c, d) = next4()
            for (w0, w1) in [(a, b), (c, d)] where i < count {
                let u1 = (Double(w0) + 1.0) / 4_294_967_297.0  // (0, 1]: log is finite
                let u2 = Double(w1) / 4_294_967_296.0
                let r = (-2.0 * _log(u1)).squareRoot()
                out[i] = Float(r * _cos(2.0 * Double.pi * u2))
                i += 1
                if i < count {
                    out[i] = Float(r * _sin(2.0 * Double.pi * u2))
                    i += 1
                }
            }
        }
        return out
    }
}

@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
@inline(__always) private func _sin(_ x: Double) -> Double { Foundation.sin(x) }
