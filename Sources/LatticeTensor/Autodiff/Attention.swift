// Differentiable fused attention: scaled dot-product attention over [B, H, N, D] and
// variable-length (block-diagonal) attention over packed [T, H, D], with their backward rules.
// Both run the tiled kernels of Kernels/AttentionKernels.swift (O(N) memory, no N×N matrix).

/// A float32 view of `t` whose last dimension has stride 1 (copying only when it has not).
private func attentionOperand(_ t: Tensor) -> Tensor {
    let f = t.float()
    if f.strides.last == 1 || f.shape.last == 1 { return f }
    return f.contiguous()
}

/// softmax(scale · q kᵀ + mask) · v, fused and tiled (flash-attention style).
///
/// q is [B, H, Nq, D], k is [B, H, Nk, D], v is [B, H, Nk, Dv]; the result is [B, H, Nq, Dv].
/// `scale` defaults to 1/√D. `mask` is an additive float mask broadcastable to [B, H, Nq, Nk]
/// (use -inf to forbid a pair); it receives no gradient. Strided inputs (e.g. a permuted
/// [B, N, H, D] projection) are read in place when their last dimension is contiguous.
/// A query row whose mask is -inf everywhere yields zeros and zero gradients (PyTorch's math
/// path gives NaN there).
public func scaledDotProductAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, scale: Float? = nil
) -> Tensor {
    precondition(
        q.rank == 4 && k.rank == 4 && v.rank == 4,
        "scaledDotProductAttention expects q, k, v of rank 4 [B, H, N, D], got \(q.shape), \(k.shape), \(v.shape)"
    )
    let (b, h, nq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let nk = k.shape[2]
    let dv = v.shape[3]
    precondition(
        k.shape == [b, h, nk, d] && v.shape == [b, h, nk, dv],
        "scaledDotProductAttention: q \(q.shape), k \(k.shape), v \(v.shape) do not agree")
    let sc = scale ?? 1 / Float(d).squareRoot()

    let (qf, kf, vf, mf) = withNoGrad {
        () -> (Tensor, Tensor, Tensor, Tensor?) in
        var m: Tensor? = nil
        if let mask {
            precondition(
                mask.rank <= 4, "attention mask \(mask.shape) has rank > 4 (target [B, H, Nq, Nk])")
            var mm = mask.float()
            while mm.rank < 4 { mm = mm.unsqueeze(0) }
            m = mm.expand([b, h, nq, nk])  // [B, H, Nq, Nk] view, broadcast dims have stride 0
        }
        return (attentionOperand(q), attentionOperand(k), attentionOperand(v), m)
    }

    var layout = AttentionLayout(
        d: d, dv: dv, scale: sc, ldq: qf.strides[2], ldk: kf.strides[2], ldv: vf.strides[2],
        ldo: dv)
    if let mf {
        layout.maskRowStride = mf.strides[2]
        layout.maskColStride = mf.strides[3]
    }
    layout.lddq = d
    layout.lddk = d
    layout.lddv = dv
    var slices: [AttentionSlice] = []
    slices.reserveCapacity(b * h)
    for bi in 0..<b {
        for hi in 0..<h {
            let s = bi * h + hi
            slices.append(
                AttentionSlice(
                    q: bi * qf.strides[0] + hi * qf.strides[1],
                    k: bi * kf.strides[0] + hi * kf.strides[1],
                    v: bi * vf.strides[0] + hi * vf.strides[1], o: s * nq * dv, lse: s * nq,
                    mask: mf.map { bi * $0.strides[0] + hi * $0.strides[1] } ?? 0, nq: nq, nk: nk,
                    dq: s * nq * d, dk: s * nk * d, dv: s * nk * dv))
        }
    }

    let out = Tensor(empty: [b, h, nq, dv])  // [B, H, Nq, Dv]
    let lse = Tensor(empty: [b * h * nq])  // base-2 log-sum-exp per query row
    AttentionKernels.forward(
        layout: layout, slices: slices, q: qf.pointer(as: Float.self),
        k: kf.pointer(as: Float.self), v: vf.pointer(as: Float.self),
        mask: mf.map { UnsafePointer($0.pointer(as: Float.self)) }, o: out.floats, lse: lse.floats)

    let saved = out.detach()  // the rule must not retain `out` itself (it owns the rule)
    return Tensor.record("scaledDotProductAttention", output: out, inputs: [q, k, v]) { g in
        let dout = g.float().contiguous()  // [B, H, Nq, Dv], same layout as out
        let dq = Tensor(empty: [b, h, nq, d])
        let dk = Tensor(empty: [b, h, nk, d])
        let dvT = Tensor(empty: [b, h, nk, dv])
        AttentionKernels.backward(
            layout: layout, slices: slices, q: qf.pointer(as: Float.self),
            k: kf.pointer(as: Float.self), v: vf.pointer(as: Float.self),
            mask: mf.map { UnsafePointer($0.pointer(as: Float.self)) }, o: saved.floats,
            dout: dout.floats, lse: lse.floats, dq: dq.floats, dqCount: dq.count, dk: dk.floats,
            dv: dvT.floats)
        return [dq, dk, dvT]
    }
}

/// Attention over packed variable-length sequences, as flash-attn's varlen interface.
///
/// q is [Tq, H, D], k is [Tk, H, D], v is [Tk, H, Dv]; sequence i owns query tokens
/// cuSeqlensQ[i]..<cuSeqlensQ[i+1] and key tokens cuSeqlensK[i]..<cuSeqlensK[i+1] and attends
/// only within them (a block-diagonal mask). Both arrays start at 0 and end at Tq / Tk.
/// The result is [Tq, H, Dv]; `scale` defaults to 1/√D. A sequence with queries but no keys
/// gives zeros.
public func varlenAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, cuSeqlensQ: [Int], cuSeqlensK: [Int],
    scale: Float? = nil
) -> Tensor {
    precondition(
        q.rank == 3 && k.rank == 3 && v.rank == 3,
        "varlenAttention expects q, k, v of rank 3 [T, H, D], got \(q.shape), \(k.shape), \(v.shape)"
    )
    let (tq, h, d) = (q.shape[0], q.shape[1], q.shape[2])
    let tk = k.shape[0]
    let dv = v.shape[2]
    precondition(
        k.shape == [tk, h, d] && v.shape == [tk, h, dv],
        "varlenAttention: q \(q.shape), k \(k.shape), v \(v.shape) do not agree")
    precondition(
        cuSeqlensQ.count == cuSeqlensK.count && cuSeqlensQ.count >= 1,
        "varlenAttention: cuSeqlensQ \(cuSeqlensQ.count) and cuSeqlensK \(cuSeqlensK.count) entries differ"
    )
    precondition(
        cuSeqlensQ.first == 0 && cuSeqlensQ.last == tq && cuSeqlensK.first == 0
            && cuSeqlensK.last == tk,
        "varlenAttention: cuSeqlens must run from 0 to Tq=\(tq) / Tk=\(tk), got \(cuSeqlensQ) / \(cuSeqlensK)"
    )
    for i in 1..<cuSeqlensQ.count {
        precondition(
            cuSeqlensQ[i] >= cuSeqlensQ[i - 1] && cuSeqlensK[i] >= cuSeqlensK[i - 1],
            "varlenAttention: cuSeqlens must be non-decreasing, got \(cuSeqlensQ) / \(cuSeqlensK)")
    }
    let sc = scale ?? 1 / Float(d).squareRoot()
    let (qf, kf, vf) = withNoGrad {
        (attentionOperand(q), attentionOperand(k), attentionOperand(v))
    }

    let layout = AttentionLayout(
        d: d, dv: dv, scale: sc, ldq: qf.strides[0], ldk: kf.strides[0], ldv: vf.strides[0],
        ldo: h * dv, lddq: h * d, lddk: h * d, lddv: h * dv)
    var slices: [AttentionSlice] = []
    for s in 0..<(cuSeqlensQ.count - 1) {
        let (q0, k0) = (cuSeqlensQ[s], cuSeqlensK[s])
        let nq = cuSeqlensQ[s + 1] - q0
        let nk = cuSeqlensK[s + 1] - k0
        if nq == 0 && nk == 0 { continue }
        for hi in 0..<h {
            slices.append(
                AttentionSlice(
                    q: q0 * qf.strides[0] + hi * qf.strides[1],
                    k: k0 * kf.strides[0] + hi * kf.strides[1],
                    v: k0 * vf.strides[0] + hi * vf.strides[1], o: (q0 * h + hi) * dv,
                    lse: hi * tq + q0, nq: nq, nk: nk, dq: (q0 * h + hi) * d,
                    dk: (k0 * h + hi) * d, dv: (k0 * h + hi) * dv))
        }
    }

    let out = Tensor(empty: [tq, h, dv])  // [Tq, H, Dv]
    let lse = Tensor(empty: [h * max(tq, 1)])  // [H, Tq] base-2 log-sum-exp
    AttentionKernels.forward(
        layout: layout, slices: slices, q: qf.pointer(as: Float.self),
        k: kf.pointer(as: Float.self), v: vf.pointer(as: Float.self), mask: nil, o: out.floats,
        lse: lse.floats)

    let saved = out.detach()  // the rule must not retain `out` itself (it owns the rule)
    return Tensor.record("varlenAttention", output: out, inputs: [q, k, v]) { g in
        let dout = g.float().contiguous()  // [Tq, H, Dv]
        let dq = Tensor(zeros: [tq, h, d])
        // Zeros: key tokens of a sequence without queries get no gradient from the kernel.
        let dk = Tensor(zeros: [tk, h, d])
        let dvT = Tensor(zeros: [tk, h, dv])
        AttentionKernels.backward(
            layout: layout, slices: slices, q: qf.pointer(as: Float.self),
            k: kf.pointer(as: Float.self), v: vf.pointer(as: Float.self), mask: nil,
            o: saved.floats, dout: dout.floats, lse: lse.floats, dq: dq.floats, dqCount: dq.count,
            dk: dk.floats, dv: dvT.floats)
        return [dq, dk, dvT]
    }
}
