// Naive twins of the fused attention kernels: materialise the full score matrix, plain softmax,
// double-precision sums. Slow by design; tests compare the fused kernels against these.
import Foundation

/// Naive twin of `scaledDotProductAttention` (materialises the [Nq, Nk] scores), for tests.
func naiveAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, scale: Float? = nil
) -> Tensor {
    NaiveAttention.forward(q, k, v, mask: mask, scale: scale)
}

/// Reference attention, forward and backward, over [B, H, N, D] tensors.
enum NaiveAttention {
    /// Inputs flattened to Double arrays, with the mask expanded to [B, H, Nq, Nk].
    private struct Problem {
        var b, h, nq, nk, d, dv: Int
        var q, k, v: [Double]
        var mask: [Double]?
        var scale: Double

        init(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor?, scale: Float?) {
            (b, h, nq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
            nk = k.shape[2]
            dv = v.shape[3]
            self.q = q.toFloats().map(Double.init)
            self.k = k.toFloats().map(Double.init)
            self.v = v.toFloats().map(Double.init)
            self.scale = Double(scale ?? 1 / Float(d).squareRoot())
            if let mask {
                var m = mask.float()
                while m.rank < 4 { m = m.unsqueeze(0) }
                self.mask = m.expand([b, h, nq, nk]).toFloats().map(Double.init)
            }
        }

        /// Softmax probabilities of slice s, [Nq, Nk]; a row with no finite score is all zeros.
        func probabilities(_ s: Int) -> [Double] {
            var p = [Double](repeating: 0, count: nq * nk)
            for i in 0..<nq {
                var row = [Double](repeating: 0, count: nk)
                for j in 0..<nk {
                    var acc = 0.0
                    for c in 0..<d { acc += q[(s * nq + i) * d + c] * k[(s * nk + j) * d + c] }
                    row[j] = acc * scale + (mask?[(s * nq + i) * nk + j] ?? 0)
                }
                let mx = row.max() ?? -.infinity
                if mx == -.infinity { continue }
                let e = row.map { Foundation.exp($0 - mx) }
                let z = e.reduce(0, +)
                for j in 0..<nk { p[i * nk + j] = e[j] / z }
            }
            return p
        }
    }

    /// softmax(scale·q kᵀ + mask)·v, [B, H, Nq, Dv].
    static func forward(
        _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, scale: Float? = nil
    ) -> Tensor {
        let pr = Problem(q, k, v, mask: mask, scale: scale)
        var out = [Float](repeating: 0, count: pr.b * pr.h * pr.nq * pr.dv)
        for s in 0..<(pr.b * pr.h) {
            let p = pr.probabilities(s)
            for i in 0..<pr.nq {
                for c in 0..<pr.dv {
                    var acc = 0.0
                    for j in 0..<pr.nk {
                        acc += p[i * pr.nk + j] * pr.v[(s * pr.nk + j) * pr.dv + c]
                    }
                    out[(s * pr.nq + i) * pr.dv + c] = Float(acc)
                }
            }
        }
        return Tensor(out, shape: [pr.b, pr.h, pr.nq, pr.dv])  // [B, H, Nq, Dv]
    }

    /// Gradients (dq, dk, dv) of forward's output for the output gradient `dout`.
    static func backward(
        _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, scale: Float? = nil,
        dout: Tensor
    ) -> (Tensor, Tensor, Tensor) {
        let pr = Problem(q, k, v, mask: mask, scale: scale)
        let (nq, nk, d, dvN) = (pr.nq, pr.nk, pr.d, pr.dv)
        let g = dout.toFloats().map(Double.init)
        var dq = [Float](repeating: 0, count: pr.q.count)
        var dk = [Float](repeating: 0, count: pr.k.count)
        var dv = [Float](repeating: 0, count: pr.v.count)
        for s in 0..<(pr.b * pr.h) {
            let p = pr.probabilities(s)
            // dP = dO Vᵀ, dS = P ⊙ (dP - rowsum(dP ⊙ P)), all [Nq, Nk].
            var dS = [Double](repeating: 0, count: nq * nk)
            for i in 0..<nq {
                var dP = [Double](repeating: 0, count: nk)
                for j in 0..<nk {
                    var acc = 0.0
                    for c in 0..<dvN {
                        acc += g[(s * nq + i) * dvN + c] * pr.v[(s * nk + j) * dvN + c]
                    }
                    dP[j] = acc
                }
                var dot = 0.0
                for j in 0..<nk { dot += dP[j] * p[i * nk + j] }
                for j in 0..<nk { dS[i * nk + j] = p[i * nk + j] * (dP[j] - dot) * pr.scale }
            }
            for j in 0..<nk {
                for c in 0..<dvN {
                    var acc = 0.0
                    for i in 0..<nq { acc += p[i * nk + j] * g[(s * nq + i) * dvN + c] }
                    dv[(s * nk + j) * dvN + c] = Float(acc)
                }
                for c in 0..<d {
                    var acc = 0.0
                    for i in 0..<nq { acc += dS[i * nk + j] * pr.q[(s * nq + i) * d + c] }
                    dk[(s * nk + j) * d + c] = Float(acc)
                }
            }
            for i in 0..<nq {
                for c in 0..<d {
                    var acc = 0.0
                    for j in 0..<nk { acc += dS[i * nk + j] * pr.k[(s * nk + j) * d + c] }
                    dq[(s * nq + i) * d + c] = Float(acc)
                }
            }
        }
        return (
            Tensor(dq, shape: q.shape), Tensor(dk, shape: k.shape), Tensor(dv, shape: v.shape)
        )
    }
}
