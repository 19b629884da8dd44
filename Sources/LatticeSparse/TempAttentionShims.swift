// TEMP: naive stand-in for the engine's `varlenAttention` until the attention branch lands in
// main; delete this file then (the engine's public function has the same signature).
import LatticeTensor

/// softmax(q kᵀ · scale) v per sequence, q [Tq, H, D], k/v [Tk, H, D] -> [Tq, H, Dv].
func varlenAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, cuSeqlensQ: [Int], cuSeqlensK: [Int],
    scale: Float? = nil
) -> Tensor {
    let sc = scale ?? 1 / Float(q.shape[2]).squareRoot()
    var outs: [Tensor] = []
    for s in 0..<(cuSeqlensQ.count - 1) {
        let (q0, q1, k0, k1) = (cuSeqlensQ[s], cuSeqlensQ[s + 1], cuSeqlensK[s], cuSeqlensK[s + 1])
        if q1 == q0 { continue }
        if k1 == k0 {
            outs.append(Tensor(zeros: [q1 - q0, q.shape[1], v.shape[2]]))
            continue
        }
        let qs = q.slice(0, q0, q1).transpose(0, 1)  // [H, n, D]
        let ks = k.slice(0, k0, k1).transpose(0, 1)  // [H, m, D]
        let vs = v.slice(0, k0, k1).transpose(0, 1)  // [H, m, Dv]
        let att = (qs.matmul(ks.transpose(1, 2)) * sc).softmax(axis: -1)  // [H, n, m]
        outs.append(att.matmul(vs).transpose(0, 1))  // [n, H, Dv]
    }
    if outs.isEmpty { return Tensor(zeros: [q.shape[0], q.shape[1], v.shape[2]]) }
    return Tensor.cat(outs, axis: 0)
}
