// Naive twins of the fast elementwise, reduction, softmax and norm kernels: plain scalar loops
// in Double with libm, written from the definitions. Tests compare the C kernels with these.
import Foundation

enum NaiveKernels {
    /// op(x) per element, from the textbook definition (PyTorch formulas for GELU/softplus).
    static func unary(_ op: UnaryOp, _ x: [Float], _ a: Float = 0, _ b: Float = 0) -> [Float] {
        x.map { xf in
            let v = Double(xf)
            let r: Double
            switch op {
            case .neg: r = -v
            case .abs: r = Swift.abs(v)
            case .sign: r = v > 0 ? 1 : (v < 0 ? -1 : v)
            case .exp: r = Foundation.exp(v)
            case .log: r = Foundation.log(v)
            case .sqrt: r = v.squareRoot()
            case .rsqrt: r = 1 / v.squareRoot()
            case .tanh: r = Foundation.tanh(v)
            case .sigmoid: r = 1 / (1 + Foundation.exp(-v))
            case .silu: r = v / (1 + Foundation.exp(-v))
            case .relu: r = v < 0 ? 0 : v
            // 1 + erf(-z) and 1 + tanh(-u) cancel for negative x even in Double; the
            // equivalent erfc and sigmoid forms keep full relative accuracy in the tail.
            case .gelu: r = 0.5 * v * Foundation.erfc(-v / 2.0.squareRoot())
            case .geluTanh:
                let u = (2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)
                r = v / (1 + Foundation.exp(-2 * u))
            case .quickGelu: r = v / (1 + Foundation.exp(-1.702 * v))
            case .softplus:
                let bv = v * Double(a)
                r = bv > Double(b) ? v : Foundation.log1p(Foundation.exp(bv)) / Double(a)
            case .pow: r = Foundation.pow(v, Double(a))
            case .clamp: r = Swift.min(Swift.max(v, Double(a)), Double(b))
            case .square: r = v * v
            }
            return Float(r)
        }
    }

    /// erfc(z) in Double.
    static func erfc(_ z: Float) -> Float { Float(Foundation.erfc(Double(z))) }

    /// Row softmax / log-softmax over [rows, cols], in Double.
    static func softmaxRows(_ x: [Float], cols: Int, log: Bool) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for r in 0..<(x.count / cols) {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let m = row.max() ?? 0
            let s = row.reduce(0) { $0 + Foundation.exp($1 - m) }
            for i in 0..<cols {
                out[r * cols + i] =
                    Float(log ? row[i] - m - Foundation.log(s) : Foundation.exp(row[i] - m) / s)
            }
        }
        return out
    }

    /// LayerNorm over rows of length cols (biased variance), in Double.
    static func layerNormRows(
        _ x: [Float], cols: Int, weight: [Float]?, bias: [Float]?, eps: Float
    ) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for r in 0..<(x.count / cols) {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let m = row.reduce(0, +) / Double(cols)
            let v = row.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(cols)
            let rs = 1 / (v + Double(eps)).squareRoot()
            for i in 0..<cols {
                var y = (row[i] - m) * rs
                if let weight { y *= Double(weight[i]) }
                if let bias { y += Double(bias[i]) }
                out[r * cols + i] = Float(y)
            }
        }
        return out
    }

    /// RMSNorm over rows of length cols, in Double.
    static func rmsNormRows(_ x: [Float], cols: Int, weight: [Float]?, eps: Float) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for r in 0..<(x.count / cols) {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let ms = row.reduce(0) { $0 + $1 * $1 } / Double(cols)
            let rs = 1 / (ms + Double(eps)).squareRoot()
            for i in 0..<cols {
                out[r * cols + i] = Float(row[i] * rs * Double(weight?[i] ?? 1))
            }
        }
        return out
    }

    /// Reduces a row-major tensor of `shape` over `axes` (keep-dims layout), in Double.
    static func reduce(_ op: ReduceOp, _ x: [Float], shape: [Int], axes: Set<Int>) -> [Float] {
        var outShape = shape
        for a in axes { outShape[a] = 1 }
        let outStrides = Tensor.contiguousStrides(for: outShape)
        let n = Tensor.count(of: outShape)
        var acc = [Double](
            repeating: op == .sum ? 0 : (op == .max ? -.infinity : .infinity), count: n)
        var idx = [Int](repeating: 0, count: shape.count)
        for i in 0..<x.count {
            var o = 0
            for d in shape.indices where !axes.contains(d) { o += idx[d] * outStrides[d] }
            let v = Double(x[i])
            switch op {
            case .sum: acc[o] += v
            case .max: acc[o] = Swift.max(acc[o], v)
            case .min: acc[o] = Swift.min(acc[o], v)
            }
            var d = shape.count - 1
            while d >= 0 {
                idx[d] += 1
                if idx[d] < shape[d] { break }
                idx[d] = 0
                d -= 1
            }
        }
        return acc.map(Float.init)
    }
}
