// TEMP shims (models helper): naive forward-only stand-in for scaledDotProductAttention (the
// attention helper's op), so the model ports run before it lands. Drop this file then.
import Foundation

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
