// TEMP shims (models helper): naive forward-only stand-ins for ops other helpers own, so the
// model ports compile and run before those ops land. Drop this file when main has the real ops.
import Foundation

/// GELU variant (TEMP shim copy of the contract enum).
public enum GeluApproximation: Sendable { case none, tanh }
/// Interpolation mode (TEMP shim copy of the contract enum).
public enum InterpolationMode: Sendable { case nearest, bilinear, bicubic, trilinear }

private func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let x = i < r - a.count ? 1 : a[i - (r - a.count)]
        let y = i < r - b.count ? 1 : b[i - (r - b.count)]
        precondition(x == y || x == 1 || y == 1, "cannot broadcast \(a) with \(b)")
        out[i] = max(x, y)
    }
    return out
}

private func zipMap(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    let s = broadcastShape(a.shape, b.shape)
    let x = a.float().expand(s).contiguous()
    let y = b.float().expand(s).contiguous()
    let out = Tensor(empty: s)
    let px = x.pointer(as: Float.self)
    let py = y.pointer(as: Float.self)
    let po = out.floats
    for i in 0..<out.count { po[i] = f(px[i], py[i]) }
    return out
}

extension Tensor {
    fileprivate func shimMap(_ f: (Float) -> Float) -> Tensor {
        let x = float().contiguous()
        let out = Tensor(empty: shape)
        let px = x.pointer(as: Float.self)
        let po = out.floats
        for i in 0..<count { po[i] = f(px[i]) }
        return out
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor { zipMap(a, b, +) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { zipMap(a, b, -) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { zipMap(a, b, *) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { zipMap(a, b, /) }
    public static func + (a: Tensor, b: Float) -> Tensor { a.shimMap { $0 + b } }
    public static func - (a: Tensor, b: Float) -> Tensor { a.shimMap { $0 - b } }
    public static func * (a: Tensor, b: Float) -> Tensor { a.shimMap { $0 * b } }
    public static func / (a: Tensor, b: Float) -> Tensor { a.shimMap { $0 / b } }
    public static func * (a: Float, b: Tensor) -> Tensor { b.shimMap { a * $0 } }
    public static prefix func - (a: Tensor) -> Tensor { a.shimMap { -$0 } }

    public func exp() -> Tensor { shimMap { Foundation.exp($0) } }
    public func sigmoid() -> Tensor { shimMap { 1 / (1 + Foundation.exp(-$0)) } }
    public func silu() -> Tensor { shimMap { $0 / (1 + Foundation.exp(-$0)) } }
    public func quickGelu() -> Tensor { shimMap { $0 / (1 + Foundation.exp(-1.702 * $0)) } }
    public func gelu(approximate: GeluApproximation = .none) -> Tensor {
        switch approximate {
        case .none: return shimMap { 0.5 * $0 * (1 + Foundation.erf($0 / Float(2).squareRoot())) }
        case .tanh:
            return shimMap {
                0.5 * $0 * (1 + Foundation.tanh(0.797_884_56 * ($0 + 0.044715 * $0 * $0 * $0)))
            }
        }
    }

    public func softmax(axis: Int) -> Tensor {
        let ax = self.axis(axis)
        let perm = Array(0..<rank).filter { $0 != ax } + [ax]
        let x = float().permute(perm).contiguous()
        let n = shape[ax]
        let out = Tensor(empty: x.shape)
        let px = x.pointer(as: Float.self)
        let po = out.floats
        for r in 0..<(n == 0 ? 0 : x.count / n) {
            var m = -Float.infinity
            for j in 0..<n { m = Swift.max(m, px[r * n + j]) }
            var s: Float = 0
            for j in 0..<n {
                let e = Foundation.exp(px[r * n + j] - m)
                po[r * n + j] = e
                s += e
            }
            for j in 0..<n { po[r * n + j] /= s }
        }
        var inv = [Int](repeating: 0, count: rank)
        for (i, p) in perm.enumerated() { inv[p] = i }
        return out.permute(inv).contiguous()
    }

    public func indexSelect(axis: Int, index: Tensor) -> Tensor {
        let ax = self.axis(axis)
        let ids = index.toInts()
        let parts = ids.map { self.slice(ax, $0, $0 + 1) }
        return Tensor.cat(parts, axis: ax)
    }

    public static func cat(_ ts: [Tensor], axis: Int) -> Tensor {
        precondition(!ts.isEmpty, "cat of nothing")
        let ax = ts[0].axis(axis)
        var shape = ts[0].shape
        shape[ax] = ts.reduce(0) { $0 + $1.shape[ax] }
        let out = Tensor(empty: shape)
        var start = 0
        for t in ts {
            let n = t.shape[ax]
            t.float().copyElementsStrided(into: out.slice(ax, start, start + n))
            start += n
        }
        return out
    }
}

public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
    let c = x.shape.last ?? 1
    let xc = x.float().contiguous()
    let out = Tensor(empty: x.shape)
    let w = weight?.float().contiguous().toFloats()
    let b = bias?.float().contiguous().toFloats()
    let px = xc.pointer(as: Float.self)
    let po = out.floats
    for r in 0..<(x.count / c) {
        var m: Float = 0
        for j in 0..<c { m += px[r * c + j] }
        m /= Float(c)
        var v: Float = 0
        for j in 0..<c { v += (px[r * c + j] - m) * (px[r * c + j] - m) }
        v /= Float(c)
        let inv = 1 / (v + eps).squareRoot()
        for j in 0..<c {
            var y = (px[r * c + j] - m) * inv
            if let w { y *= w[j] }
            if let b { y += b[j] }
            po[r * c + j] = y
        }
    }
    return out
}

public func scaledDotProductAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, scale: Float? = nil
) -> Tensor {
    let (b, h, nq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let nk = k.shape[2]
    let dv = v.shape[3]
    let s = scale ?? 1 / Float(d).squareRoot()
    let qc = q.float().contiguous().toFloats()
    let kc = k.float().contiguous().toFloats()
    let vc = v.float().contiguous().toFloats()
    let mk = mask.map { $0.float().expand([b, h, nq, nk]).contiguous().toFloats() }
    var out = [Float](repeating: 0, count: b * h * nq * dv)
    var row = [Float](repeating: 0, count: nk)
    for bh in 0..<(b * h) {
        for i in 0..<nq {
            var m = -Float.infinity
            for j in 0..<nk {
                var acc: Float = 0
                for t in 0..<d { acc += qc[(bh * nq + i) * d + t] * kc[(bh * nk + j) * d + t] }
                acc *= s
                if let mk { acc += mk[(bh * nq + i) * nk + j] }
                row[j] = acc
                m = max(m, acc)
            }
            var sum: Float = 0
            for j in 0..<nk {
                row[j] = Foundation.exp(row[j] - m)
                sum += row[j]
            }
            for j in 0..<nk {
                let p = row[j] / sum
                for t in 0..<dv { out[(bh * nq + i) * dv + t] += p * vc[(bh * nk + j) * dv + t] }
            }
        }
    }
    return Tensor(out, shape: [b, h, nq, dv])
}

public func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
    dilation: Int = 1, groups: Int = 1
) -> Tensor {
    precondition(padding == 0 && dilation == 1 && groups == 1, "shim conv2d: plain only")
    let (n, c, hh, ww) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
    let oh = (hh - kh) / stride + 1
    let ow = (ww - kw) / stride + 1
    let xc = x.float().contiguous().toFloats()
    let wc = weight.float().contiguous().toFloats()
    let bv = bias?.toFloats()
    var out = [Float](repeating: 0, count: n * o * oh * ow)
    for b in 0..<n {
        for oc in 0..<o {
            for y in 0..<oh {
                for xo in 0..<ow {
                    var acc: Float = bv?[oc] ?? 0
                    for ic in 0..<c {
                        for i in 0..<kh {
                            for j in 0..<kw {
                                acc +=
                                    xc[((b * c + ic) * hh + y * stride + i) * ww + xo * stride + j]
                                    * wc[((oc * c + ic) * kh + i) * kw + j]
                            }
                        }
                    }
                    out[((b * o + oc) * oh + y) * ow + xo] = acc
                }
            }
        }
    }
    return Tensor(out, shape: [n, o, oh, ow])
}

/// PyTorch's antialiased separable resampling along one axis (bicubic a = -0.5).
private func shimResampleAA(_ x: [Float], outer: Int, n: Int, inner: Int, outSize: Int) -> [Float] {
    if n == outSize { return x }
    let scale = Float(n) / Float(outSize)
    let support: Float = scale >= 1 ? 2 * scale : 2
    let invscale: Float = scale >= 1 ? 1 / scale : 1
    func filt(_ v: Float) -> Float {
        let a: Float = -0.5
        let t = abs(v)
        if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
        if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
        return 0
    }
    var out = [Float](repeating: 0, count: outer * outSize * inner)
    for i in 0..<outSize {
        let center = scale * (Float(i) + 0.5)
        let xmin = max(Int(center - support + 0.5), 0)
        let xsize = min(Int(center + support + 0.5), n) - xmin
        var w = [Float](repeating: 0, count: max(xsize, 0))
        var total: Float = 0
        for j in 0..<xsize {
            w[j] = filt((Float(j + xmin) - center + 0.5) * invscale)
            total += w[j]
        }
        if total != 0 { for j in 0..<xsize { w[j] /= total } }
        for o in 0..<outer {
            for c in 0..<inner {
                var acc: Float = 0
                for j in 0..<xsize { acc += w[j] * x[(o * n + xmin + j) * inner + c] }
                out[(o * outSize + i) * inner + c] = acc
            }
        }
    }
    return out
}

public func interpolate(
    _ x: Tensor, size: [Int], mode: InterpolationMode, alignCorners: Bool = false,
    antialias: Bool = false
) -> Tensor {
    precondition(mode == .bicubic && antialias && !alignCorners && x.rank == 4, "shim: AA bicubic only")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    var v = x.float().contiguous().toFloats()
    // Width (contiguous axis) first, then height, as PyTorch's separable AA kernel.
    v = shimResampleAA(v, outer: n * c * h, n: w, inner: 1, outSize: size[1])
    v = shimResampleAA(v, outer: n * c, n: h, inner: size[1], outSize: size[0])
    return Tensor(v, shape: [n, c, size[0], size[1]])
}
