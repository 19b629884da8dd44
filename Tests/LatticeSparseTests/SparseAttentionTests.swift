import Foundation
// Sparse attention: the swin partition against a naive window assignment, windowed and full
// attention against per-group dense softmax attention, cross-attention isolation, gradients.
import LatticeTensor
import LatticeTestSupport
import Testing

@testable import LatticeSparse

/// softmax(q kᵀ/√D) v for one group of rows, q/k/v as [n, H, D] float arrays.
private func naiveAttention(
    q: [Float], k: [Float], v: [Float], rowsQ: [Int], rowsK: [Int], heads: Int, d: Int
) -> [Int: [Float]] {
    var out: [Int: [Float]] = [:]
    for i in rowsQ {
        var o = [Float](repeating: 0, count: heads * d)
        for h in 0..<heads {
            var s = rowsK.map { j in
                (0..<d).reduce(Float(0)) {
                    $0 + q[(i * heads + h) * d + $1] * k[(j * heads + h) * d + $1]
                }
                    / Float(d).squareRoot()
            }
            let m = s.max() ?? 0
            s = s.map { Foundation.exp($0 - m) }
            let z = s.reduce(0, +)
            for (t, j) in rowsK.enumerated() {
                for e in 0..<d { o[h * d + e] += s[t] / z * v[(j * heads + h) * d + e] }
            }
        }
        out[i] = o
    }
    return out
}

@Suite struct SparseAttentionTests {
    /// Windows as a dictionary from (b, floor((xyz+shift)/w)) to rows, ordered by code with the
    /// grid extent from the whole batch: must equal the partition's ordinals and lengths.
    @Test(arguments: [(4, 0), (4, 2), (3, 1), (8, 4)])
    func swinPartitionMatchesNaiveAssignment(ws: Int, shift: Int) throws {
        var g = RandomGenerator(seed: UInt64(31 + ws * 10 + shift))
        let x = try randomSparse(counts: [80, 0, 55], res: 11, channels: 1, generator: &g)
        let p = x.windowPartition(windowSize: ws, shift: shift)
        let c = x.coords.toInts()
        var maxC = [0, 0, 0]
        for i in 0..<x.count { for a in 0..<3 { maxC[a] = max(maxC[a], c[4 * i + 1 + a] + shift) } }
        let w = maxC.map { Int((Double($0 + 1) / Double(ws)).rounded(.up)) }
        var groups: [Int: [Int]] = [:]
        for i in 0..<x.count {
            let win = (1...3).map { (c[4 * i + $0] + shift) / ws }
            let code = ((c[4 * i] * w[0] + win[0]) * w[1] + win[1]) * w[2] + win[2]
            groups[code, default: []].append(i)
        }
        let codes = groups.keys.sorted()
        #expect(p.seqLens == codes.map { groups[$0]!.count })
        for (ord, code) in codes.enumerated() {
            for i in groups[code]! { #expect(p.windowOrdinal[i] == Int32(ord)) }
        }
        #expect(p.order.map(Int.init).sorted() == Array(0..<x.count))
    }

    /// Windowed and full attention against naive per-group softmax attention. Tolerance 1e-5:
    /// float32 softmax over ≤ 100 keys with O(1) logits.
    @Test func attentionMatchesNaiveGroups() throws {
        var g = RandomGenerator(seed: 41)
        let x = try randomSparse(counts: [50, 35], res: 6, channels: 1, generator: &g)
        let (h, d) = (2, 4)
        let q = Tensor.randn([x.count, h, d], generator: &g)
        let k = Tensor.randn([x.count, h, d], generator: &g)
        let v = Tensor.randn([x.count, h, d], generator: &g)
        let (qv, kv, vv) = (q.toFloats(), k.toFloats(), v.toFloats())
        let win = sparseWindowedAttention(x, q: q, k: k, v: v, windowSize: 4, shift: 2).toFloats()
        let p = x.windowPartition(windowSize: 4, shift: 2)
        var ref = [Float](repeating: 0, count: x.count * h * d)
        for ord in 0..<p.seqLens.count {
            let rows = (0..<x.count).filter { p.windowOrdinal[$0] == Int32(ord) }
            for (i, o) in naiveAttention(
                q: qv, k: kv, v: vv, rowsQ: rows, rowsK: rows, heads: h, d: d)
            {
                for e in 0..<(h * d) { ref[i * h * d + e] = o[e] }
            }
        }
        #expect(maxAbsDiff(win, ref) < 1e-5)
        let full = sparseFullAttention(x, q: q, k: k, v: v).toFloats()
        for b in 0..<2 {
            let rows = Array(x.layout(b))
            for (i, o) in naiveAttention(
                q: qv, k: kv, v: vv, rowsQ: rows, rowsK: rows, heads: h, d: d)
            {
                for e in 0..<(h * d) { ref[i * h * d + e] = o[e] }
            }
        }
        #expect(maxAbsDiff(full, ref) < 1e-5)
    }

    /// Module gradients (self swin with qk norm, cross) by finite differences, and the
    /// module's errors on channel mismatches.
    @Test func moduleGradientsAndErrors() throws {
        var g = RandomGenerator(seed: 42)
        let x = try randomSparse(counts: [9, 6], res: 4, channels: 8, generator: &g)
        let m = SparseMultiHeadAttention(
            channels: 8, heads: 2, mode: .windowed(size: 2, shift: 1), qkRMSNorm: true)
        for (_, p) in m.namedParameters() {
            p.value = Tensor.randn(p.shape, generator: &g) * 0.5
        }
        gradCheck([x.feats]) { t in (try? m(x.replacing(feats: t[0])).feats) ?? t[0] }
        let cross = SparseMultiHeadAttention(
            channels: 8, heads: 2, contextChannels: 3, kind: .cross)
        for (_, p) in cross.namedParameters() {
            p.value = Tensor.randn(p.shape, generator: &g) * 0.5
        }
        let ctx = Tensor.randn([2, 5, 3], generator: &g)
        gradCheck([x.feats, ctx]) { t in
            (try? cross(x.replacing(feats: t[0]), context: t[1]).feats) ?? t[0]
        }
        // Item 1's output does not depend on item 0's context.
        let y0 = try cross(x, context: ctx).feats.slice(0, 9, 15).contiguous().toFloats()
        let ctx2 = Tensor.cat(
            [Tensor.randn([1, 5, 3], generator: &g), ctx.slice(0, 1, 2)], axis: 0)
        let y1 = try cross(x, context: ctx2).feats.slice(0, 9, 15).contiguous().toFloats()
        #expect(maxAbsDiff(y0, y1) == 0)
        #expect(throws: LatticeError.self) {
            try m(x.replacing(feats: Tensor(zeros: [x.count, 6])))
        }
        #expect(throws: LatticeError.self) { try cross(x, context: Tensor(zeros: [2, 5, 4])) }
        #expect(throws: LatticeError.self) { try cross(x) }
    }
}
