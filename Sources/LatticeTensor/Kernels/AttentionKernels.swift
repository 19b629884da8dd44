// Raw drivers for the fused attention kernels (CLatticeKernels/attention.c): describe each
// (sequence, head) problem as offsets into shared buffers and spread them over threads.
import CLatticeKernels

/// Geometry shared by every slice of one attention call. Row strides are in elements; the last
/// dimension of every operand is contiguous.
struct AttentionLayout {
    var d: Int
    var dv: Int
    var scale: Float
    var ldq: Int
    var ldk: Int
    var ldv: Int
    /// Row stride of the output O, and of dO in the backward pass (same layout).
    var ldo: Int
    var maskRowStride: Int = 0
    var maskColStride: Int = 0
    /// Row strides of the gradient buffers dQ, dK, dV.
    var lddq: Int = 0
    var lddk: Int = 0
    var lddv: Int = 0
}

/// One (sequence, head) attention problem: offsets (in elements) of its first row in each buffer.
struct AttentionSlice {
    var q: Int
    var k: Int
    var v: Int
    var o: Int
    var lse: Int
    var mask: Int = 0
    var nq: Int
    var nk: Int
    var dq: Int = 0
    var dk: Int = 0
    var dv: Int = 0
}

enum AttentionKernels {
    /// Query rows per forward work item (one query block of attention.c; multiples of 16 keep
    /// the transposed score tiles on full-width micro-kernels).
    static let forwardRows = 256
    /// Keys per tile in attention.c (key groups of the backward pass are multiples of it).
    static let keyTile = 64

    /// O = softmax(scale·QKᵀ + mask)·V for every slice; also writes the base-2 log-sum-exp rows.
    /// Parallel over (slice × query-row block); each output row is computed by one item with a
    /// fixed summation order, so results do not depend on the thread count.
    static func forward(
        layout: AttentionLayout, slices: [AttentionSlice], q: UnsafePointer<Float>,
        k: UnsafePointer<Float>, v: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
        o: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>
    ) {
        var items: [(slice: Int, row: Int, rows: Int)] = []
        let totalRows = slices.reduce(0) { $0 + $1.nq }
        // Smaller blocks when there is little work, so every thread gets some.
        let target = max(1, totalRows / max(1, 4 * Parallel.threadCount))
        let rows = min(forwardRows, max(32, (target + 15) / 16 * 16))
        for (s, sl) in slices.enumerated() {
            var r = 0
            while r < sl.nq {
                items.append((s, r, min(rows, sl.nq - r)))
                r += rows
            }
        }
        let L = layout
        Parallel.run(chunks: items.count) { c in
            let it = items[c]
            let sl = slices[it.slice]
            let m = mask.map { $0 + sl.mask + it.row * L.maskRowStride }
            let rc = lt_attn_fwd(
                Int64(it.rows), Int64(sl.nk), Int64(L.d), Int64(L.dv), L.scale,
                q + sl.q + it.row * L.ldq, Int64(L.ldq), k + sl.k, Int64(L.ldk), v + sl.v,
                Int64(L.ldv), m, Int64(L.maskRowStride), Int64(L.maskColStride),
                o + sl.o + it.row * L.ldo, Int64(L.ldo), lse + sl.lse + it.row)
            precondition(rc == 0, "attention forward: out of memory for its tile workspace")
        }
    }

    /// Gradients of the forward above. `dq`, `dk`, `dv` are written (not accumulated); `dq`
    /// must hold `dqCount` floats, the extent of the whole dQ buffer.
    ///
    /// Work items are (slice × key group). With few slices the keys of a slice are split into
    /// groups whose dQ contributions go to separate buffers summed afterwards in group order:
    /// the split depends only on sizes and the thread count, so results are reproducible.
    static func backward(
        layout: AttentionLayout, slices: [AttentionSlice], q: UnsafePointer<Float>,
        k: UnsafePointer<Float>, v: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
        o: UnsafePointer<Float>, dout: UnsafePointer<Float>, lse: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>, dqCount: Int, dk: UnsafeMutablePointer<Float>,
        dv: UnsafeMutablePointer<Float>
    ) {
        let L = layout
        // delta_i = rowsum(dO ⊙ O), stored like lse (one float per query row).
        let lseCount = slices.reduce(0) { max($0, $1.lse + $1.nq) }
        let delta = UnsafeMutablePointer<Float>.allocate(capacity: max(lseCount, 1))
        defer { delta.deallocate() }
        Parallel.run(chunks: slices.count) { s in
            let sl = slices[s]
            lt_attn_bwd_delta(
                Int64(sl.nq), Int64(L.dv), o + sl.o, Int64(L.ldo), dout + sl.o, Int64(L.ldo),
                delta + sl.lse)
        }

        let maxKeyTiles = slices.reduce(1) { max($0, ($1.nk + keyTile - 1) / keyTile) }
        let groups = min(
            maxKeyTiles,
            max(1, (2 * Parallel.threadCount + slices.count - 1) / max(slices.count, 1)))
        // Group 0 accumulates straight into dq; groups 1... get their own zeroed buffers.
        let extra = UnsafeMutablePointer<Float>.allocate(capacity: max(1, (groups - 1) * dqCount))
        defer { extra.deallocate() }
        dq.initialize(repeating: 0, count: dqCount)
        if groups > 1 { extra.initialize(repeating: 0, count: (groups - 1) * dqCount) }

        Parallel.run(chunks: slices.count * groups) { c in
            let sl = slices[c / groups]
            let g = c % groups
            let tiles = (sl.nk + keyTile - 1) / keyTile
            let per = (tiles + groups - 1) / groups
            let k0 = min(sl.nk, g * per * keyTile)
            let k1 = min(sl.nk, (g + 1) * per * keyTile)
            if k0 >= k1 { return }
            let dqBase = g == 0 ? dq : extra + (g - 1) * dqCount
            let m = mask.map { $0 + sl.mask + k0 * L.maskColStride }
            let rc = lt_attn_bwd(
                Int64(sl.nq), Int64(k1 - k0), Int64(L.d), Int64(L.dv), L.scale, q + sl.q,
                Int64(L.ldq), k + sl.k + k0 * L.ldk, Int64(L.ldk), v + sl.v + k0 * L.ldv,
                Int64(L.ldv), m, Int64(L.maskRowStride), Int64(L.maskColStride), dout + sl.o,
                Int64(L.ldo), lse + sl.lse, delta + sl.lse, dqBase + sl.dq, Int64(L.lddq),
                dk + sl.dk + k0 * L.lddk, Int64(L.lddk), dv + sl.dv + k0 * L.lddv, Int64(L.lddv))
            precondition(rc == 0, "attention backward: out of memory for its tile workspace")
        }
        if groups > 1 {
            Parallel.forRange(dqCount, grain: 1 << 15) { r in
                for g in 0..<(groups - 1) {
                    let src = extra + g * dqCount
                    for i in r { dq[i] += src[i] }
                }
            }
        }
    }
}
