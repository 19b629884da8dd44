// TEMPORARY shims for the nn branch: naive stand-ins for ops other helpers own (elementwise,
// gemm, structural, attention), so LatticeNN compiles and its tests run before those land.
// DELETE this whole file when merging main; the real ops replace every symbol here.
import Foundation

/// TEMPORARY (shim): GELU variant.
public enum GeluApproximation: Sendable { case none, tanh }

extension Tensor {
    // MARK: shim helpers

    fileprivate static func shimBroadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
        let r = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let x = i - (r - a.count) >= 0 ? a[i - (r - a.count)] : 1
            let y = i - (r - b.count) >= 0 ? b[i - (r - b.count)] : 1
            precondition(x == y || x == 1 || y == 1, "cannot broadcast \(a) with \(b)")
            out[i] = x == 1 ? y : x
        }
        return out
    }

    fileprivate func shimMap(
        _ name: String, _ f: (Float) -> Float, _ df: @escaping (Float, Float) -> Float
    ) -> Tensor {
        let x = float().contiguous()
        let out = Tensor(empty: shape)
        let px = x.floats
        let po = out.floats
        for i in 0..<count { po[i] = f(px[i]) }
        return Tensor.record(name, output: out, inputs: [x]) { g in
            let gc = g.float().contiguous()
            let r = Tensor(empty: gc.shape)
            let pg = gc.floats
            let pr = r.floats
            let px = x.floats
            let py = out.floats
            for i in 0..<gc.count { pr[i] = pg[i] * df(px[i], py[i]) }
            return [r]
        }
    }

    fileprivate static func shimBinary(
        _ name: String, _ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float,
        _ da: @escaping (Float, Float, Float) -> Float, _ db: @escaping (Float, Float, Float) -> Float
    ) -> Tensor {
        let s = shimBroadcastShape(a.shape, b.shape)
        let x = a.float().expand(s).contiguous()
        let y = b.float().expand(s).contiguous()
        let out = Tensor(empty: s)
        let px = x.floats
        let py = y.floats
        let po = out.floats
        for i in 0..<out.count { po[i] = f(px[i], py[i]) }
        return Tensor.record(name, output: out, inputs: [x, y]) { g in
            let gc = g.float().contiguous()
            let ra = Tensor(empty: s)
            let rb = Tensor(empty: s)
            let pg = gc.floats
            for i in 0..<gc.count {
                ra.floats[i] = pg[i] * da(px[i], py[i], po[i])
                rb.floats[i] = pg[i] * db(px[i], py[i], po[i])
            }
            return [ra, rb]
        }
    }

    // MARK: arithmetic

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        shimBinary("add", a, b, { $0 + $1 }, { _, _, _ in 1 }, { _, _, _ in 1 })
    }
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        shimBinary("sub", a, b, { $0 - $1 }, { _, _, _ in 1 }, { _, _, _ in -1 })
    }
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        shimBinary("mul", a, b, { $0 * $1 }, { _, y, _ in y }, { x, _, _ in x })
    }
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        shimBinary("div", a, b, { $0 / $1 }, { _, y, _ in 1 / y }, { x, y, _ in -x / (y * y) })
    }
    public static func + (a: Tensor, s: Float) -> Tensor { a.shimMap("adds", { $0 + s }, { _, _ in 1 }) }
    public static func - (a: Tensor, s: Float) -> Tensor { a.shimMap("subs", { $0 - s }, { _, _ in 1 }) }
    public static func * (a: Tensor, s: Float) -> Tensor { a.shimMap("muls", { $0 * s }, { _, _ in s }) }
    public static func / (a: Tensor, s: Float) -> Tensor { a.shimMap("divs", { $0 / s }, { _, _ in 1 / s }) }
    public static func + (s: Float, a: Tensor) -> Tensor { a + s }
    public static func - (s: Float, a: Tensor) -> Tensor { a.shimMap("rsub", { s - $0 }, { _, _ in -1 }) }
    public static func * (s: Float, a: Tensor) -> Tensor { a * s }
    public static func / (s: Float, a: Tensor) -> Tensor {
        a.shimMap("rdiv", { s / $0 }, { x, _ in -s / (x * x) })
    }
    public static prefix func - (a: Tensor) -> Tensor { a.shimMap("neg", { -$0 }, { _, _ in -1 }) }

    public func exp() -> Tensor { shimMap("exp", { Foundation.exp($0) }, { _, y in y }) }
    public func log() -> Tensor { shimMap("log", { Foundation.log($0) }, { x, _ in 1 / x }) }
    public func sqrt() -> Tensor { shimMap("sqrt", { $0.squareRoot() }, { _, y in 0.5 / y }) }
    public func rsqrt() -> Tensor {
        shimMap("rsqrt", { 1 / $0.squareRoot() }, { x, y in -0.5 * y / x })
    }
    public func abs() -> Tensor { shimMap("abs", { Swift.abs($0) }, { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) }) }
    public func tanh() -> Tensor { shimMap("tanh", { Foundation.tanh($0) }, { _, y in 1 - y * y }) }
    public func sigmoid() -> Tensor {
        shimMap("sigmoid", { 1 / (1 + Foundation.exp(-$0)) }, { _, y in y * (1 - y) })
    }
    public func relu() -> Tensor { shimMap("relu", { Swift.max($0, 0) }, { x, _ in x > 0 ? 1 : 0 }) }
    public func silu() -> Tensor {
        shimMap(
            "silu", { $0 / (1 + Foundation.exp(-$0)) },
            { x, _ in
                let s = 1 / (1 + Foundation.exp(-x))
                return s * (1 + x * (1 - s))
            })
    }
    public func pow(_ p: Float) -> Tensor {
        shimMap("pow", { Foundation.pow($0, p) }, { x, _ in p * Foundation.pow(x, p - 1) })
    }
    public func clamp(min lo: Float? = nil, max hi: Float? = nil) -> Tensor {
        shimMap(
            "clamp", { Swift.min(Swift.max($0, lo ?? -.infinity), hi ?? .infinity) },
            { x, _ in (lo.map { x < $0 } ?? false) || (hi.map { x > $0 } ?? false) ? 0 : 1 })
    }
    public func gelu(approximate: GeluApproximation = .none) -> Tensor {
        // Composed so autodiff is free; shim only.
        switch approximate {
        case .none:
            return shimMap(
                "gelu", { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot().float)) },
                { x, _ in
                    0.5 * (1 + erf(x / 2.0.squareRoot().float)) + x * Foundation.exp(-x * x / 2)
                        / (2 * Float.pi).squareRoot()
                })
        case .tanh:
            let c: Float = (2 / Float.pi).squareRoot()
            let inner = (self + self.pow(3) * 0.044715) * c
            return self * 0.5 * (inner.tanh() + 1)
        }
    }
    public func quickGelu() -> Tensor { self * (self * 1.702).sigmoid() }

    // MARK: reductions

    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let x = float().contiguous()
        let ax = Set((axes ?? Array(0..<rank)).map { axis($0) })
        let keptShape = shape.enumerated().map { ax.contains($0.offset) ? 1 : $0.element }
        let out = Tensor(zeros: keptShape)
        let acc = out.expand(shape)  // zero strides on reduced dims
        var idx = [Int](repeating: 0, count: rank)
        let px = x.floats
        let po = out.floats
        for i in 0..<x.count {
            var o = 0
            for d in 0..<rank { o += idx[d] * acc.strides[d] }
            po[o] += px[i]
            var d = rank - 1
            while d >= 0 {
                idx[d] += 1
                if idx[d] < shape[d] { break }
                idx[d] = 0
                d -= 1
            }
        }
        let finalShape = keepDims ? keptShape : shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element)
        let inShape = shape
        let result = Tensor(storage: out.storage, shape: finalShape, strides: Tensor.contiguousStrides(for: finalShape), dtype: .float32)
        return Tensor.record("sum", output: result, inputs: [x]) { g in
            [g.reshape(keptShape).expand(inShape).contiguous()]
        }
    }

    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = (axes ?? Array(0..<rank)).map { axis($0) }
        let n = ax.reduce(1) { $0 * shape[$1] }
        return sum(axes: axes, keepDims: keepDims) / Float(n)
    }

    /// Shim: no gradient (used detached for stability only). Not named `max` here: main's
    /// Matmul.swift calls the global `max` inside a Tensor extension.
    fileprivate func shimMax(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        precondition(axes?.count == 1, "shim max supports one axis")
        let a = axis(axes![0])
        let x = detach().float().contiguous()
        var keptShape = shape
        keptShape[a] = 1
        let out = Tensor(full: keptShape, value: -.infinity)
        let inner = shape[(a + 1)...].reduce(1, *)
        let outer = shape[..<a].reduce(1, *)
        for o in 0..<outer {
            for j in 0..<shape[a] {
                for i in 0..<inner {
                    let v = x.floats[(o * shape[a] + j) * inner + i]
                    out.floats[o * inner + i] = Swift.max(out.floats[o * inner + i], v)
                }
            }
        }
        return keepDims ? out : out.squeeze(a)
    }

    public func softmax(axis a: Int) -> Tensor {
        let e = (self - shimMax(axes: [a], keepDims: true)).exp()
        return e / e.sum(axes: [a], keepDims: true)
    }

    public func l2Normalize(axis a: Int = -1, eps: Float = 1e-12) -> Tensor {
        self / (self * self).sum(axes: [a], keepDims: true).sqrt().clamp(min: eps)
    }

    // MARK: structural

    public static func cat(_ ts: [Tensor], axis: Int) -> Tensor {
        let a = ts[0].axis(axis)
        var s = ts[0].shape
        s[a] = ts.reduce(0) { $0 + $1.shape[a] }
        let out = Tensor(empty: s, dtype: ts[0].dtype)
        var start = 0
        var bounds: [(Int, Int)] = []
        for t in ts {
            t.detach().copyElementsStrided(into: out.slice(a, start, start + t.shape[a]))
            bounds.append((start, start + t.shape[a]))
            start += t.shape[a]
        }
        return Tensor.record("cat", output: out, inputs: ts) { g in
            bounds.map { g.slice(a, $0.0, $0.1).contiguous() }
        }
    }

    public static func stack(_ ts: [Tensor], axis: Int) -> Tensor {
        cat(ts.map { $0.unsqueeze(axis) }, axis: axis)
    }

    public func chunk(_ n: Int, axis a: Int) -> [Tensor] {
        let d = axis(a)
        let step = (shape[d] + n - 1) / n
        return stride(from: 0, to: shape[d], by: step).map { slice(d, $0, $0 + step) }
    }

    public func indexSelect(axis a: Int, index: Tensor) -> Tensor {
        let d = axis(a)
        let ids = index.toInts()
        let x = float().contiguous()
        var s = shape
        s[d] = ids.count
        let inner = shape[(d + 1)...].reduce(1, *)
        let outer = shape[..<d].reduce(1, *)
        let out = Tensor(empty: s)
        let inShape = shape
        let n = shape[d]
        for o in 0..<outer {
            for (j, id) in ids.enumerated() {
                precondition(id >= 0 && id < n, "index \(id) out of range \(n)")
                for i in 0..<inner { out.floats[(o * ids.count + j) * inner + i] = x.floats[(o * n + id) * inner + i] }
            }
        }
        return Tensor.record("indexSelect", output: out, inputs: [x]) { g in
            let gc = g.float().contiguous()
            let r = Tensor(zeros: inShape)
            for o in 0..<outer {
                for (j, id) in ids.enumerated() {
                    for i in 0..<inner { r.floats[(o * n + id) * inner + i] += gc.floats[(o * ids.count + j) * inner + i] }
                }
            }
            return [r]
        }
    }

}

/// TEMPORARY (shim): composed layer norm over the last dim.
public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
    let mu = x.mean(axes: [-1], keepDims: true)
    let xc = x - mu
    var y = xc * ((xc * xc).mean(axes: [-1], keepDims: true) + eps).rsqrt()
    if let weight { y = y * weight }
    if let bias { y = y + bias }
    return y
}

/// TEMPORARY (shim): composed group norm on [N, C, *].
public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
    let n = x.shape[0]
    let c = x.shape[1]
    let g = x.reshape([n, groups, -1])
    let y = layerNorm(g, weight: nil, bias: nil, eps: eps).reshape(x.shape)
    let bshape = [1, c] + [Int](repeating: 1, count: x.rank - 2)
    var out = y
    if let weight { out = out * weight.reshape(bshape) }
    if let bias { out = out + bias.reshape(bshape) }
    return out
}

/// TEMPORARY (shim): composed RMS norm over the last dim.
public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) -> Tensor {
    let y = x * ((x * x).mean(axes: [-1], keepDims: true) + eps).rsqrt()
    return weight.map { y * $0 } ?? y
}

/// TEMPORARY (shim): composed attention.
public func scaledDotProductAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, scale: Float? = nil
) -> Tensor {
    let s = scale ?? 1 / Float(q.shape.last!).squareRoot()
    var logits = matmul(q, k.transpose(-1, -2)) * s
    if let mask { logits = logits + mask }
    return matmul(logits.softmax(axis: -1), v)
}

/// TEMPORARY (shim): direct conv, forward only. x [N, C, H, W], weight [O, C/g, kh, kw].
public func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
    dilation: Int = 1, groups: Int = 1
) -> Tensor {
    let x = x.float().contiguous()
    let w = weight.float().contiguous()
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let ho = (h + 2 * padding - dilation * (kh - 1) - 1) / stride + 1
    let wo = (wd + 2 * padding - dilation * (kw - 1) - 1) / stride + 1
    let og = o / groups
    let out = Tensor(zeros: [n, o, ho, wo])
    let bv = bias?.toFloats()
    for b in 0..<n {
        for oc in 0..<o {
            let grp = oc / og
            for i in 0..<ho {
                for j in 0..<wo {
                    var acc: Float = bv?[oc] ?? 0
                    for ci in 0..<cg {
                        let cin = grp * cg + ci
                        for u in 0..<kh {
                            for v in 0..<kw {
                                let yy = i * stride - padding + u * dilation
                                let xx = j * stride - padding + v * dilation
                                if yy < 0 || yy >= h || xx < 0 || xx >= wd { continue }
                                acc += x.floats[((b * c + cin) * h + yy) * wd + xx]
                                    * w.floats[((oc * cg + ci) * kh + u) * kw + v]
                            }
                        }
                    }
                    out.floats[((b * o + oc) * ho + i) * wo + j] = acc
                }
            }
        }
    }
    return out
}

/// TEMPORARY (shim): transposed conv, forward only. weight [C, O/g, kh, kw].
public func convTranspose2d(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
    outputPadding: Int = 0, groups: Int = 1, dilation: Int = 1
) -> Tensor {
    let x = x.float().contiguous()
    let w = weight.float().contiguous()
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (og, kh, kw) = (w.shape[1], w.shape[2], w.shape[3])
    let o = og * groups
    let cg = c / groups
    let ho = (h - 1) * stride - 2 * padding + dilation * (kh - 1) + outputPadding + 1
    let wo = (wd - 1) * stride - 2 * padding + dilation * (kw - 1) + outputPadding + 1
    let out = Tensor(zeros: [n, o, ho, wo])
    for b in 0..<n {
        for ci in 0..<c {
            let grp = ci / cg
            for i in 0..<h {
                for j in 0..<wd {
                    let xv = x.floats[((b * c + ci) * h + i) * wd + j]
                    for oj in 0..<og {
                        let oc = grp * og + oj
                        for u in 0..<kh {
                            for v in 0..<kw {
                                let yy = i * stride - padding + u * dilation
                                let xx = j * stride - padding + v * dilation
                                if yy < 0 || yy >= ho || xx < 0 || xx >= wo { continue }
                                out.floats[((b * o + oc) * ho + yy) * wo + xx] +=
                                    xv * w.floats[((ci * og + oj) * kh + u) * kw + v]
                            }
                        }
                    }
                }
            }
        }
    }
    if let bias {
        let bv = bias.toFloats()
        for b in 0..<n { for oc in 0..<o { for p in 0..<(ho * wo) { out.floats[(b * o + oc) * ho * wo + p] += bv[oc] } } }
    }
    return out
}

/// TEMPORARY (shim): direct 3-D conv, forward only. x [N, C, D, H, W], weight [O, C, k, k, k].
public func conv3d(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
    dilation: Int = 1, groups: Int = 1
) -> Tensor {
    precondition(dilation == 1 && groups == 1, "shim conv3d: no dilation/groups")
    let x = x.float().contiguous()
    let w = weight.float().contiguous()
    let (n, c, d, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
    let (o, kd, kh, kw) = (w.shape[0], w.shape[2], w.shape[3], w.shape[4])
    let dout = (d + 2 * padding - kd) / stride + 1
    let ho = (h + 2 * padding - kh) / stride + 1
    let wo = (wd + 2 * padding - kw) / stride + 1
    let out = Tensor(zeros: [n, o, dout, ho, wo])
    let bv = bias?.toFloats()
    for b in 0..<n {
        for oc in 0..<o {
            for z in 0..<dout {
                for i in 0..<ho {
                    for j in 0..<wo {
                        var acc: Float = bv?[oc] ?? 0
                        for ci in 0..<c {
                            for t in 0..<kd {
                                for u in 0..<kh {
                                    for v in 0..<kw {
                                        let zz = z * stride - padding + t
                                        let yy = i * stride - padding + u
                                        let xx = j * stride - padding + v
                                        if zz < 0 || zz >= d || yy < 0 || yy >= h || xx < 0 || xx >= wd { continue }
                                        acc += x.floats[(((b * c + ci) * d + zz) * h + yy) * wd + xx]
                                            * w.floats[(((oc * c + ci) * kd + t) * kh + u) * kw + v]
                                    }
                                }
                            }
                        }
                        out.floats[(((b * o + oc) * dout + z) * ho + i) * wo + j] = acc
                    }
                }
            }
        }
    }
    return out
}

extension Double {
    fileprivate var float: Float { Float(self) }
}
