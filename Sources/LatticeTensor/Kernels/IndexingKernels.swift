// Raw indexing kernels (no autodiff): concatenation, gather / index-select copies, scatter-add,
// stable argsort and unique. Differentiable wrappers live in Autodiff/Indexing.swift.
import Foundation

extension Tensor {
    /// The values of an int32/int64 tensor in row-major order, checked to lie in 0..<bound.
    func indexValues(bound: Int, op: String) -> [Int] {
        precondition(
            dtype == .int32 || dtype == .int64, "\(op): index must be int32 or int64, got \(dtype)")
        let values = toInts()
        for v in values {
            precondition(v >= 0 && v < bound, "\(op): index \(v) out of range 0..<\(bound)")
        }
        return values
    }
}

enum IndexingKernels {
    /// Concatenates same-dtype tensors along `axis` into a new contiguous tensor.
    static func cat(_ ts: [Tensor], axis: Int) -> Tensor {
        var shape = ts[0].shape
        shape[axis] = ts.reduce(0) { $0 + $1.shape[axis] }
        let out = Tensor(empty: shape, dtype: ts[0].dtype)
        let es = out.dtype.byteSize
        let outStrides = out.strides
        var start = 0
        for t in ts {
            Tensor.stridedCopy(
                src: t.storage.data + t.offset * es, srcStrides: t.strides,
                dst: out.storage.data + start * outStrides[axis] * es, dstStrides: outStrides,
                shape: t.shape, elementSize: es)
            start += t.shape[axis]
        }
        return out
    }

    /// Calls `body(q, base)` for every row-major position q of `shape`, where base is the
    /// offset of that position in a contiguous tensor of `target` extents with the `axis`
    /// coordinate dropped (the caller adds index · stride along `axis`).
    static func forEachPosition(
        _ shape: [Int], target: [Int], axis: Int, _ body: (Int, Int) -> Void
    ) {
        let n = Tensor.count(of: shape)
        if n == 0 { return }
        var strides = Tensor.contiguousStrides(for: target)
        strides[axis] = 0
        let r = shape.count
        var idx = [Int](repeating: 0, count: r)
        var base = 0
        for q in 0..<n {
            body(q, base)
            var d = r - 1
            while d >= 0 {
                idx[d] += 1
                base += strides[d]
                if idx[d] < shape[d] { break }
                base -= strides[d] * shape[d]
                idx[d] = 0
                d -= 1
            }
        }
    }

    /// torch.gather: out[p] = x[p with axis coordinate replaced by index[p]] (any dtype).
    static func gather(_ x: Tensor, axis: Int, index: [Int], indexShape: [Int]) -> Tensor {
        let xc = x.rawContiguous()
        let out = Tensor(empty: indexShape, dtype: x.dtype)
        let es = x.dtype.byteSize
        let axisStride = Tensor.contiguousStrides(for: x.shape)[axis]
        let src = xc.storage.data + xc.offset * es
        let dst = out.storage.data
        forEachPosition(indexShape, target: x.shape, axis: axis) { q, base in
            (dst + q * es).copyMemory(
                from: src + (base + index[q] * axisStride) * es, byteCount: es)
        }
        return out
    }

    /// torch.index_select: rows `index` of x along `axis` (any dtype).
    static func indexSelect(_ x: Tensor, axis: Int, index: [Int]) -> Tensor {
        let xc = x.rawContiguous()
        var shape = x.shape
        shape[axis] = index.count
        let out = Tensor(empty: shape, dtype: x.dtype)
        let es = x.dtype.byteSize
        let outer = x.shape[..<axis].reduce(1, *)
        let inner = x.shape[(axis + 1)...].reduce(1, *) * es
        let length = x.shape[axis]
        let src = xc.storage.data + xc.offset * es
        let dst = out.storage.data
        Parallel.forRange(outer * index.count, grain: Swift.max(1, 65536 / Swift.max(inner, 1))) {
            r in
            for row in r {
                let (o, j) = (row / index.count, row % index.count)
                (dst + row * inner).copyMemory(
                    from: src + (o * length + index[j]) * inner, byteCount: inner)
            }
        }
        return out
    }

    /// Adds `source` values into a copy of contiguous float `base` at positions whose `axis`
    /// coordinate is given by `index` (same shape as `source`, or 1-D along `axis`).
    /// Runs serially so that repeated targets always accumulate in the same order.
    static func scatterAdd(
        base: Tensor, axis: Int, index: [Int], indexShape: [Int], source: Tensor
    ) -> Tensor {
        precondition(
            base.dtype == .float32 && source.dtype == .float32, "scatterAdd on float32 only")
        let out = Tensor(empty: base.shape)
        base.copyElements(to: out.storage.data)
        let po = out.floats
        let src = source.rawContiguous()
        let ps = src.pointer(as: Float.self)
        let axisStride = Tensor.contiguousStrides(for: base.shape)[axis]
        if indexShape.count == 1 && source.rank > 1 {
            // torch_scatter-style broadcast: index [n] selects rows along `axis`.
            let outer = source.shape[..<axis].reduce(1, *)
            let inner = source.shape[(axis + 1)...].reduce(1, *)
            let n = index.count
            for o in 0..<outer {
                for j in 0..<n {
                    let s = ps + (o * n + j) * inner
                    let d = po + o * base.shape[axis] * inner + index[j] * inner
                    for i in 0..<inner { d[i] += s[i] }
                }
            }
            return out
        }
        let sourceStrides = Tensor.contiguousStrides(for: source.shape)
        forEachPosition(indexShape, target: base.shape, axis: axis) { q, b in
            // Position q of the index, located in source (whose extents may be larger).
            var rem = q
            var so = 0
            for d in stride(from: indexShape.count - 1, through: 0, by: -1) {
                so += (rem % indexShape[d]) * sourceStrides[d]
                rem /= indexShape[d]
            }
            po[b + index[q] * axisStride] += ps[so]
        }
        return out
    }

    /// Stable argsort of contiguous `values` rows [outer, n, inner] along the middle axis.
    static func argsort<T: Comparable>(
        _ values: UnsafePointer<T>, outer: Int, length n: Int, inner: Int, descending: Bool,
        into out: UnsafeMutablePointer<Int64>
    ) {
        Parallel.forRange(outer * inner, grain: 1) { r in
            var order = [Int](repeating: 0, count: n)
            for line in r {
                let (o, i) = (line / inner, line % inner)
                let base = values + o * n * inner + i
                for j in 0..<n { order[j] = j }
                // Ties break by position, so the order is stable whatever the sort algorithm.
                order.sort { a, b in
                    let va = base[a * inner]
                    let vb = base[b * inner]
                    // NaN (the only value unequal to itself) sorts as the largest, as in torch.
                    let (nanA, nanB) = (va != va, vb != vb)
                    if nanA || nanB {
                        if nanA && nanB { return a < b }
                        return descending ? nanA : nanB
                    }
                    if va == vb { return a < b }
                    return descending ? va > vb : va < vb
                }
                for j in 0..<n { out[o * n * inner + j * inner + i] = Int64(order[j]) }
            }
        }
    }
}
