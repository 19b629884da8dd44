// Fused attention (scaledDotProductAttention, varlenAttention) against its naive twin, finite
// differences, and its own building blocks (tile GEMM, vectorised exp2).
import CLatticeKernels
import Foundation
import LatticeTestSupport
import Testing

@testable import LatticeTensor

/// Largest |a - b| over two same-shape tensors.
private func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "comparing \(a.shape) with \(b.shape)")
    return zip(a.toFloats(), b.toFloats()).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Largest |x| (scale for absolute tolerances).
private func maxAbs(_ a: Tensor) -> Float { a.toFloats().reduce(0) { max($0, abs($1)) } }

/// Runs fused forward + backward with output gradient `g`; returns (out, dq, dk, dv).
private func fused(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, scale: Float? = nil, g: Tensor
) -> (Tensor, Tensor, Tensor, Tensor) {
    let (ql, kl, vl) = (
        q.detach().requiringGrad(), k.detach().requiringGrad(), v.detach().requiringGrad()
    )
    let out = scaledDotProductAttention(ql, kl, vl, mask: mask, scale: scale)
    out.backward(g)
    return (out, ql.grad!, kl.grad!, vl.grad!)
}

// The suite is serialized because two tests force the CPU dispatch level (per thread).
@Suite(.serialized) struct AttentionTests {
    // Tolerance: the fused kernel sums in float32 (tiles of 64 with rescaling, exp2 polynomial
    // accurate to ~2 ulp) while the twin sums in double; with O(1) inputs and sums over <= 200
    // terms the float32 error stays below ~1e-5, so 1e-4 abs flags real bugs only.
    static let tol: Float = 1e-4

    @Test func tileGemmMatchesNaiveIncludingTransposedA() {
        var gen = RandomGenerator(seed: 1)
        for (m, n, k) in [
            (1, 1, 1), (6, 64, 64), (13, 70, 37), (64, 80, 64), (25, 17, 5), (7, 33, 9),
        ] {
            for transA in [false, true] {
                let a = Tensor.randn([m * k], generator: &gen).toFloats()
                let b = Tensor.randn([k * n], generator: &gen).toFloats()
                let c0 = Tensor.randn([m * n], generator: &gen).toFloats()
                // A(r, p) at r*ars + p*acs: row-major M×K, or stored K×M.
                let (ars, acs) = transA ? (1, m) : (k, 1)
                for accumulate in [Int32(0), 1] {
                    var got = c0
                    lt_attn_tile_gemm(
                        Int64(m), Int64(n), Int64(k), a, Int64(ars), Int64(acs), b, Int64(n), &got,
                        Int64(n), accumulate)
                    var worst: Float = 0
                    for i in 0..<m {
                        for j in 0..<n {
                            var acc: Double = accumulate == 1 ? Double(c0[i * n + j]) : 0
                            for p in 0..<k {
                                acc += Double(a[i * ars + p * acs]) * Double(b[p * n + j])
                            }
                            worst = max(worst, abs(Float(acc) - got[i * n + j]))
                        }
                    }
                    // float32 sums of <= 64 products of N(0,1) values: error ~1e-5.
                    #expect(worst < 1e-4, "m \(m) n \(n) k \(k) transA \(transA) acc \(accumulate)")
                }
            }
        }
    }

    @Test func exp2IsAccurateAndExactlyZeroBelowRange() {
        var xs: [Float] = stride(from: -140.0, through: 20.0, by: 0.0371).map { Float($0) }
        xs += [-.infinity, -126.5, -125.9, 0, 1, -1, 0.5, -0.5]
        var ys = xs
        lt_attn_exp2(&ys, Int64(ys.count))
        for (x, y) in zip(xs, ys) {
            if x < -126 {
                #expect(y == 0, "2^\(x) = \(y)")
            } else {
                let ref = Foundation.exp2(Double(x))
                // Degree-6 polynomial on |f| <= 0.5: ~1.2e-7 truncation plus rounding.
                #expect(abs(Double(y) - ref) <= 5e-7 * ref, "2^\(x): \(y) vs \(ref)")
            }
        }
    }

    @Test(arguments: [
        (1, 2, 37, 53, 16, 16), (2, 3, 70, 65, 32, 32), (1, 2, 129, 100, 64, 64),
        (1, 1, 64, 200, 80, 80), (2, 1, 5, 7, 64, 48), (1, 2, 1, 1, 16, 16),
        (1, 2, 33, 41, 20, 12),
    ])
    func fusedMatchesNaiveForwardAndBackward(
        shape: (Int, Int, Int, Int, Int, Int)
    ) {
        let (b, h, nq, nk, d, dv) = shape
        var gen = RandomGenerator(seed: UInt64(nq * 1000 + nk))
        let q = Tensor.randn([b, h, nq, d], generator: &gen)
        let k = Tensor.randn([b, h, nk, d], generator: &gen)
        let v = Tensor.randn([b, h, nk, dv], generator: &gen)
        let g = Tensor.randn([b, h, nq, dv], generator: &gen)
        let (out, dq, dk, dv_) = fused(q, k, v, g: g)
        #expect(maxDiff(out, naiveAttention(q, k, v)) < Self.tol, "forward \(shape)")
        let (rq, rk, rv) = NaiveAttention.backward(q, k, v, dout: g)
        #expect(maxDiff(dq, rq) < Self.tol * max(1, maxAbs(rq)), "dq \(shape)")
        #expect(maxDiff(dk, rk) < Self.tol * max(1, maxAbs(rk)), "dk \(shape)")
        #expect(maxDiff(dv_, rv) < Self.tol * max(1, maxAbs(rv)), "dv \(shape)")
    }

    @Test(arguments: [Int32(0), 1])
    func lowerInstructionSetLevelsMatchNaive(level: Int32) {
        // Level 0 runs the portable target_clones loops, level 1 the AVX2 micro-kernels (on an
        // AVX-512 machine the default run above covers level 2). A level above the hardware's
        // leaves detection on, which the other tests already cover.
        lt_cpu_force_level(level)
        defer { lt_cpu_force_level(-1) }
        var gen = RandomGenerator(seed: 11)
        let q = Tensor.randn([1, 2, 70, 80], generator: &gen)
        let k = Tensor.randn([1, 2, 150, 80], generator: &gen)
        let v = Tensor.randn([1, 2, 150, 24], generator: &gen)
        let mask = Tensor.randn([70, 150], generator: &gen)
        let g = Tensor.randn([1, 2, 70, 24], generator: &gen)
        for m in [nil, mask] {
            let (out, dq, dk, dv) = fused(q, k, v, mask: m, scale: 0.2, g: g)
            #expect(maxDiff(out, naiveAttention(q, k, v, mask: m, scale: 0.2)) < Self.tol)
            let (rq, rk, rv) = NaiveAttention.backward(q, k, v, mask: m, scale: 0.2, dout: g)
            #expect(maxDiff(dq, rq) < Self.tol * max(1, maxAbs(rq)))
            #expect(maxDiff(dk, rk) < Self.tol * max(1, maxAbs(rk)))
            #expect(maxDiff(dv, rv) < Self.tol * max(1, maxAbs(rv)))
        }
    }

    @Test func masksWithInfinityAndBroadcastingMatchNaive() {
        var gen = RandomGenerator(seed: 3)
        let (b, h, nq, nk, d) = (2, 2, 19, 75, 32)
        let q = Tensor.randn([b, h, nq, d], generator: &gen)
        let k = Tensor.randn([b, h, nk, d], generator: &gen)
        let v = Tensor.randn([b, h, nk, d], generator: &gen)
        let g = Tensor.randn([b, h, nq, d], generator: &gen)
        // Key padding mask [B, 1, 1, Nk]: the last keys of batch 1 are forbidden.
        var pad = [Float](repeating: 0, count: b * nk)
        for j in 60..<nk { pad[nk + j] = -.infinity }
        // Random additive [Nq, Nk] mask with scattered -inf entries.
        var dense = Tensor.randn([nq, nk], generator: &gen).toFloats()
        for i in stride(from: 0, to: dense.count, by: 7) { dense[i] = -.infinity }
        // Per-row constants [Nq, 1] (column stride 0) and a transposed view (column stride Nq)
        // exercise the strided mask loads.
        let rowConst = Tensor.randn([nq, 1], generator: &gen)
        let transposed = Tensor.randn([nk, nq], generator: &gen).transpose(0, 1)
        let masks = [
            Tensor(pad, shape: [b, 1, 1, nk]), Tensor(dense, shape: [nq, nk]), rowConst, transposed,
        ]
        for mask in masks {
            let (out, dq, dk, dv) = fused(q, k, v, mask: mask, g: g)
            #expect(maxDiff(out, naiveAttention(q, k, v, mask: mask)) < Self.tol)
            let (rq, rk, rv) = NaiveAttention.backward(q, k, v, mask: mask, dout: g)
            #expect(maxDiff(dq, rq) < Self.tol * max(1, maxAbs(rq)))
            #expect(maxDiff(dk, rk) < Self.tol * max(1, maxAbs(rk)))
            #expect(maxDiff(dv, rv) < Self.tol * max(1, maxAbs(rv)))
        }
    }

    @Test func fullyMaskedRowGivesZerosAndZeroGradients() {
        // Documented behaviour: a query row that may attend to nothing outputs 0 (not NaN).
        var gen = RandomGenerator(seed: 4)
        let (nq, nk, d) = (5, 70, 16)
        let q = Tensor.randn([1, 1, nq, d], generator: &gen)
        let k = Tensor.randn([1, 1, nk, d], generator: &gen)
        let v = Tensor.randn([1, 1, nk, d], generator: &gen)
        var m = [Float](repeating: 0, count: nq * nk)
        for j in 0..<nk { m[2 * nk + j] = -.infinity }
        let mask = Tensor(m, shape: [nq, nk])
        let g = Tensor.randn([1, 1, nq, d], generator: &gen)
        let (out, dq, dk, dv) = fused(q, k, v, mask: mask, g: g)
        let o = out.toFloats()
        #expect(o.allSatisfy { $0.isFinite })
        #expect(o[(2 * d)..<(3 * d)].allSatisfy { $0 == 0 })
        #expect(dq.toFloats()[(2 * d)..<(3 * d)].allSatisfy { $0 == 0 })
        #expect(
            dk.toFloats().allSatisfy { $0.isFinite } && dv.toFloats().allSatisfy { $0.isFinite })
        #expect(maxDiff(out, naiveAttention(q, k, v, mask: mask)) < Self.tol)
        let (rq, rk, rv) = NaiveAttention.backward(q, k, v, mask: mask, dout: g)
        #expect(maxDiff(dq, rq) < Self.tol * max(1, maxAbs(rq)))
        #expect(maxDiff(dk, rk) < Self.tol * max(1, maxAbs(rk)))
        #expect(maxDiff(dv, rv) < Self.tol * max(1, maxAbs(rv)))
    }

    @Test func permutedInputsMatchContiguous() {
        // q, k, v as produced by a [B, N, H, D] projection viewed as [B, H, N, D] (strided rows).
        var gen = RandomGenerator(seed: 5)
        let (b, n, h, d) = (2, 67, 3, 32)
        let qs = Tensor.randn([b, n, h, d], generator: &gen).permute([0, 2, 1, 3])
        let ks = Tensor.randn([b, n, h, d], generator: &gen).permute([0, 2, 1, 3])
        let vs = Tensor.randn([b, n, h, d], generator: &gen).permute([0, 2, 1, 3])
        #expect(!qs.isContiguous)
        let g = Tensor.randn([b, h, n, d], generator: &gen)
        let a = fused(qs, ks, vs, g: g)
        let c = fused(qs.contiguous(), ks.contiguous(), vs.contiguous(), g: g)
        // Same arithmetic in the same order: bit-identical.
        #expect(maxDiff(a.0, c.0) == 0)
        #expect(maxDiff(a.1, c.1) == 0 && maxDiff(a.2, c.2) == 0 && maxDiff(a.3, c.3) == 0)
        // A transposed last dimension goes through a contiguous copy.
        let qt = qs.contiguous().transpose(2, 3).contiguous().transpose(2, 3)
        #expect(maxDiff(scaledDotProductAttention(qt, ks, vs), a.0) == 0)
    }

    @Test func resultsAreReproducible() {
        var gen = RandomGenerator(seed: 6)
        let q = Tensor.randn([1, 1, 150, 16], generator: &gen)
        let k = Tensor.randn([1, 1, 300, 16], generator: &gen)
        let v = Tensor.randn([1, 1, 300, 16], generator: &gen)
        let g = Tensor.randn([1, 1, 150, 16], generator: &gen)
        let a = fused(q, k, v, g: g)
        let c = fused(q, k, v, g: g)
        #expect(a.0.toFloats() == c.0.toFloats() && a.1.toFloats() == c.1.toFloats())
        #expect(a.2.toFloats() == c.2.toFloats() && a.3.toFloats() == c.3.toFloats())
    }

    @Test func varlenEqualsSeparateSequences() {
        var gen = RandomGenerator(seed: 8)
        let (h, d) = (2, 32)
        let lq = [17, 70, 5]
        let lk = [40, 9, 66]
        let cuQ = [0, 17, 87, 92]
        let cuK = [0, 40, 49, 115]
        let q = Tensor.randn([92, h, d], generator: &gen)
        let k = Tensor.randn([115, h, d], generator: &gen)
        let v = Tensor.randn([115, h, d], generator: &gen)
        let g = Tensor.randn([92, h, d], generator: &gen)
        let (ql, kl, vl) = (q.requiringGrad(), k.requiringGrad(), v.requiringGrad())
        let out = varlenAttention(ql, kl, vl, cuSeqlensQ: cuQ, cuSeqlensK: cuK)
        out.backward(g)
        let (o, dq, dk, dv) = (
            out.toFloats(), ql.grad!.toFloats(), kl.grad!.toFloats(), vl.grad!.toFloats()
        )
        for s in 0..<3 {
            // Sequence s as its own [1, H, N, D] problem.
            func part(_ t: Tensor, _ cu: [Int]) -> Tensor {
                t.slice(0, cu[s], cu[s + 1]).permute([1, 0, 2]).unsqueeze(0).contiguous()
            }
            let r = fused(part(q, cuQ), part(k, cuK), part(v, cuK), g: part(g, cuQ))
            func back(_ t: Tensor) -> [Float] {
                t.squeeze(0).permute([1, 0, 2]).contiguous().toFloats()
            }
            let qr = (cuQ[s] * h * d)..<(cuQ[s + 1] * h * d)
            let kr = (cuK[s] * h * d)..<(cuK[s + 1] * h * d)
            #expect(qr.count == lq[s] * h * d && kr.count == lk[s] * h * d)
            // Each sequence runs the same kernel on the same rows: differences are rounding only.
            let e0 = zip(o[qr], back(r.0)).map { abs($0 - $1) }.max() ?? 0
            let e1 = zip(dq[qr], back(r.1)).map { abs($0 - $1) }.max() ?? 0
            let e2 = zip(dk[kr], back(r.2)).map { abs($0 - $1) }.max() ?? 0
            let e3 = zip(dv[kr], back(r.3)).map { abs($0 - $1) }.max() ?? 0
            #expect(max(e0, e1, e2, e3) < 1e-5, "sequence \(s): \(e0) \(e1) \(e2) \(e3)")
        }
    }

    @Test func varlenHandlesEmptySequences() {
        var gen = RandomGenerator(seed: 9)
        let q = Tensor.randn([6, 1, 16], generator: &gen)
        let k = Tensor.randn([4, 1, 16], generator: &gen)
        let v = Tensor.randn([4, 1, 16], generator: &gen)
        // Sequence 1 has queries but no keys (zeros); sequence 2 has keys but no queries.
        let out = varlenAttention(q, k, v, cuSeqlensQ: [0, 3, 6, 6], cuSeqlensK: [0, 2, 2, 4])
        let o = out.toFloats()
        #expect(o[48..<96].allSatisfy { $0 == 0 })
        let ref = naiveAttention(
            q.slice(0, 0, 3).permute([1, 0, 2]).unsqueeze(0),
            k.slice(0, 0, 2).permute([1, 0, 2]).unsqueeze(0),
            v.slice(0, 0, 2).permute([1, 0, 2]).unsqueeze(0))
        let e = zip(o[0..<48], ref.toFloats()).map { abs($0 - $1) }.max() ?? 0
        #expect(e < Self.tol)
    }

    @Test func gradCheckSDPAWithMaskAndPermutedInput() {
        var gen = RandomGenerator(seed: 10)
        let q = Tensor.randn([1, 5, 2, 8], generator: &gen)  // [B, N, H, D], permuted below
        let k = Tensor.randn([1, 2, 7, 8], generator: &gen)
        let v = Tensor.randn([1, 2, 7, 6], generator: &gen)
        var m = Tensor.randn([1, 1, 5, 7], generator: &gen).toFloats()
        m[3] = -.infinity
        let mask = Tensor(m, shape: [1, 1, 5, 7])
        gradCheck([q, k, v]) { xs in
            scaledDotProductAttention(
                xs[0].permute([0, 2, 1, 3]), xs[1], xs[2], mask: mask, scale: 0.4)
        }
    }

    @Test func gradCheckVarlen() {
        var gen = RandomGenerator(seed: 12)
        let q = Tensor.randn([7, 2, 4], generator: &gen)
        let k = Tensor.randn([9, 2, 4], generator: &gen)
        let v = Tensor.randn([9, 2, 4], generator: &gen)
        gradCheck([q, k, v]) { xs in
            varlenAttention(xs[0], xs[1], xs[2], cuSeqlensQ: [0, 3, 7], cuSeqlensK: [0, 5, 9])
        }
    }
}
