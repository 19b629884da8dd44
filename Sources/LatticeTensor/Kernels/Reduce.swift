// Reduction, argmax and row-softmax kernels (no autodiff; see Autodiff/Reductions.swift).
// Reductions coalesce the input into [outer, reduced, inner] blocks so the common layouts
// (last axes, leading axes, one middle group) run without a transposing copy.
import CLatticeKernels

/// Reduction kinds with a C kernel (codes match lt_elementwise.h).
enum ReduceOp: Int32 {
    case sum = 0, max, min
}

/// Elements handled per block when one long row is split across threads. Fixed (not derived
/// from the thread count) so a full sum gives the same bits with any number of threads.
let reduceBlock = 1 << 16

enum ReduceKernels {
    /// Reduces float32 `x` over `axes` (normalised, non-empty), returning the keep-dims shape.
    static func reduce(_ op: ReduceOp, _ x: Tensor, axes: Set<Int>) -> Tensor {
        var keepShape = x.shape
        for a in axes { keepShape[a] = 1 }
        let out = Tensor(empty: keepShape)
        if x.count == 0 {
            out.floats.initialize(repeating: op == .sum ? 0 : .nan, count: out.count)
            return out
        }
        let xc = x.rawContiguous()
        // Coalesce into alternating (extent, reduced) groups, ignoring size-1 dimensions.
        var groups: [(extent: Int, reduced: Bool)] = []
        for d in 0..<x.rank where x.shape[d] != 1 {
            let red = axes.contains(d)
            if let last = groups.last, last.reduced == red {
                groups[groups.count - 1].extent *= x.shape[d]
            } else {
                groups.append((x.shape[d], red))
            }
        }
        let px = xc.floats
        let po = out.floats
        // Peel a leading kept group (outer) and a trailing kept group (inner).
        var outer = 1
        var inner = 1
        var mid = groups
        if let f = mid.first, !f.reduced {
            outer = f.extent
            mid.removeFirst()
        }
        if let l = mid.last, !l.reduced {
            inner = l.extent
            mid.removeLast()
        }
        if mid.isEmpty {  // nothing of extent > 1 is reduced: a copy
            po.update(from: px, count: out.count)
            return out
        }
        if mid.count == 1 {
            let red = mid[0].extent
            if inner == 1 {
                rows(op, px, rows: outer, cols: red, out: po)
            } else {
                columns(op, px, outer: outer, rows: red, cols: inner, out: po)
            }
            return out
        }
        // Interleaved reduced/kept axes: move kept axes first and reduce rows.
        let kept = (0..<x.rank).filter { !axes.contains($0) }
        let order = kept + axes.sorted()
        let moved = Tensor(
            storage: xc.storage, shape: order.map { xc.shape[$0] },
            strides: order.map { xc.strides[$0] }, offset: xc.offset, dtype: .float32
        ).rawContiguous()
        let nOut = out.count
        rows(op, moved.floats, rows: nOut, cols: x.count / Swift.max(nOut, 1), out: po)
        return out
    }

    /// out[r] = reduce(x[r, :]) for a contiguous [rows, cols] block.
    static func rows(
        _ op: ReduceOp, _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        out: UnsafeMutablePointer<Float>
    ) {
        if rows == 1 && cols >= 2 * reduceBlock {
            // One long row (a full reduction): reduce fixed-size blocks in parallel, then combine in order.
            let blocks = (cols + reduceBlock - 1) / reduceBlock
            let partial = UnsafeMutablePointer<Float>.allocate(capacity: rows * blocks)
            defer { partial.deallocate() }
            Parallel.forRange(rows * blocks, grain: 1) { range in
                for i in range {
                    let r = i / blocks
                    let b = i % blocks
                    let lo = b * reduceBlock
                    let len = Swift.min(reduceBlock, cols - lo)
                    lt_reduce_rows_f32(
                        op.rawValue, x + r * cols + lo, 1, Int64(len), Int64(cols), partial + i)
                }
            }
            for r in 0..<rows {
                lt_reduce_rows_f32(
                    op.rawValue, partial + r * blocks, 1, Int64(blocks), Int64(blocks), out + r)
            }
            return
        }
        Parallel.forRange(rows, grain: Swift.max(1, elementwiseGrain / Swift.max(cols, 1))) { r in
            lt_reduce_rows_f32(
                op.rawValue, x + r.lowerBound * cols, Int64(r.count), Int64(cols), Int64(cols),
                out + r.lowerBound)
        }
    }

    /// out[o, c] = reduce over r of x[o, r, c] for a contiguous [outer, rows, cols] block.
    static func columns(
        _ op: ReduceOp, _ x: UnsafeMutablePointer<Float>, outer: Int, rows: Int, cols: Int,
        out: UnsafeMutablePointer<Float>
    ) {
        if outer >= Parallel.threadCount {
            Parallel.forRange(outer, grain: 1) { range in
                for o in range {
                    lt_reduce_cols_f32(
                        op.rawValue, x + o * rows * cols, Int64(rows), Int64(cols), Int64(cols),
                        out + o * cols)
                }
            }
            return
        }
        // Few outer blocks: split the columns (each column still sums rows in order).
        for o in 0..<outer {
            Parallel.forRange(cols, grain: 256) { range in
                lt_reduce_cols_f32(
                    op.rawValue, x + o * rows * cols + range.lowerBound, Int64(rows),
                    Int64(range.count), Int64(cols), out + o * cols + range.lowerBound)
            }
        }
    }

    /// Index of the first maximum along `axis` (NaN counts as the maximum).
    static func argmax(_ x: Tensor, axis: Int) -> Tensor {
        var order = (0..<x.rank).filter { $0 != axis }
        order.append(axis)
        let moved = Tensor(
            storage: x.storage, shape: order.map { x.shape[$0] },
            strides: order.map { x.strides[$0] }, offset: x.offset, dtype: .float32
        ).rawContiguous()
        var outShape = x.shape
        outShape.remove(at: axis)
        let out = Tensor(empty: outShape, dtype: .int64)
        let cols = x.shape[axis]
        let rows = out.count
        precondition(cols > 0, "argmax over an empty axis of \(x.shape)")
        let px = moved.floats
        let po = out.pointer(as: Int64.self)
        Parallel.forRange(rows, grain: Swift.max(1, elementwiseGrain / cols)) { r in
            lt_argmax_rows_f32(
                px + r.lowerBound * cols, Int64(r.count), Int64(cols), po + r.lowerBound)
        }
        return out
    }

    /// Row softmax (or log-softmax) of a contiguous float32 tensor over its last dimension.
    static func softmax(_ x: Tensor, log: Bool) -> Tensor {
        let out = Tensor(empty: x.shape)
        let cols = x.shape.last ?? 1
        let rows = x.count / Swift.max(cols, 1)
        let px = x.floats
        let po = out.floats
        Parallel.forRange(rows, grain: Swift.max(1, 8192 / Swift.max(cols, 1))) { r in
            lt_softmax_rows_f32(
                px + r.lowerBound * cols, po + r.lowerBound * cols, Int64(r.count), Int64(cols),
                log ? 1 : 0)
        }
        return out
    }

    /// Gradient of the row softmax from its output `y` and the output gradient `g`.
    static func softmaxBackward(y: Tensor, grad g: Tensor, log: Bool) -> Tensor {
        let gc = g.float().rawContiguous()
        let out = Tensor(empty: y.shape)
        let cols = y.shape.last ?? 1
        let rows = y.count / Swift.max(cols, 1)
        let py = y.floats
        let pg = gc.floats
        let po = out.floats
        Parallel.forRange(rows, grain: Swift.max(1, 8192 / Swift.max(cols, 1))) { r in
            let o = r.lowerBound * cols
            lt_softmax_bwd_rows_f32(
                py + o, pg + o, po + o, Int64(r.count), Int64(cols), log ? 1 : 0)
        }
        return out
    }
}
