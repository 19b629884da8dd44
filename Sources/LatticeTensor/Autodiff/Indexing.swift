// Structural ops and their backward rules: cat, stack, split, chunk, gather, indexSelect,
// scatterAdd, scatterMean, plus the non-differentiable argsort and unique. Kernels live in
// Kernels/IndexingKernels.swift.

extension Tensor {
    /// Concatenates tensors along `axis` (torch.cat). All inputs share dtype and every other extent.
    public static func cat(_ ts: [Tensor], axis: Int) -> Tensor {
        precondition(!ts.isEmpty, "cat of an empty list")
        let first = ts[0]
        let a = first.axis(axis)
        for t in ts {
            var s = t.shape
            var f = first.shape
            precondition(
                t.rank == first.rank && t.dtype == first.dtype,
                "cat: shapes \(ts.map(\.shape)) / dtypes \(ts.map(\.dtype)) differ")
            s[a] = 0
            f[a] = 0
            precondition(s == f, "cat along \(axis): shapes \(ts.map(\.shape)) differ off-axis")
        }
        let out = IndexingKernels.cat(ts, axis: a)
        let sizes = ts.map { $0.shape[a] }
        return Tensor.record("cat", output: out, inputs: ts) { g in
            var start = 0
            return sizes.map { n in
                defer { start += n }
                return g.slice(a, start, start + n)
            }
        }
    }

    /// Stacks same-shape tensors along a new axis (torch.stack).
    public static func stack(_ ts: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!ts.isEmpty, "stack of an empty list")
        let r = ts[0].rank
        let a = axis < 0 ? axis + r + 1 : axis
        precondition(a >= 0 && a <= r, "stack axis \(axis) out of range for rank \(r)")
        precondition(
            ts.allSatisfy { $0.shape == ts[0].shape }, "stack: shapes \(ts.map(\.shape)) differ")
        return cat(ts.map { $0.unsqueeze(a) }, axis: a)
    }

    /// Views of consecutive pieces of the given sizes along `axis` (torch.split with a list).
    public func split(sizes: [Int], axis: Int) -> [Tensor] {
        let a = self.axis(axis)
        precondition(
            sizes.reduce(0, +) == shape[a] && sizes.allSatisfy { $0 >= 0 },
            "split: sizes \(sizes) do not add up to \(shape[a]) (axis \(axis) of \(shape))")
        var start = 0
        return sizes.map { n in
            defer { start += n }
            return slice(a, start, start + n)
        }
    }

    /// Splits into pieces of ceil(n / chunks) along `axis` (torch.chunk: the last may be smaller,
    /// and fewer than `chunks` pieces come back when the extent does not allow more).
    public func chunk(_ chunks: Int, axis: Int) -> [Tensor] {
        precondition(chunks > 0, "chunk count must be positive, got \(chunks)")
        let a = self.axis(axis)
        let n = shape[a]
        let step = Swift.max(1, (n + chunks - 1) / chunks)
        if n == 0 { return [self] }
        var sizes: [Int] = []
        var start = 0
        while start < n {
            sizes.append(Swift.min(step, n - start))
            start += step
        }
        return split(sizes: sizes, axis: a)
    }

    /// torch.gather: out[i][j][k] = self[index[i][j][k]][j][k] (for axis 0). index has this
    /// tensor's rank, and no larger extents off `axis`.
    public func gather(axis: Int, index: Tensor) -> Tensor {
        let a = self.axis(axis)
        precondition(
            index.rank == rank
                && (0..<rank).allSatisfy { $0 == a || index.shape[$0] <= shape[$0] },
            "gather: index \(index.shape) does not fit input \(shape) along axis \(axis)")
        let idx = index.indexValues(bound: shape[a], op: "gather")
        let out = IndexingKernels.gather(self, axis: a, index: idx, indexShape: index.shape)
        let inShape = shape
        return Tensor.record("gather", output: out, inputs: [self]) { g in
            [
                IndexingKernels.scatterAdd(
                    base: Tensor(zeros: inShape), axis: a, index: idx, indexShape: index.shape,
                    source: g.float())
            ]
        }
    }

    /// torch.index_select: the entries `index` (1-D int32/int64) along `axis`.
    public func indexSelect(axis: Int, index: Tensor) -> Tensor {
        let a = self.axis(axis)
        precondition(index.rank == 1, "indexSelect: index must be 1-D, got \(index.shape)")
        let idx = index.indexValues(bound: shape[a], op: "indexSelect")
        let out = IndexingKernels.indexSelect(self, axis: a, index: idx)
        let inShape = shape
        return Tensor.record("indexSelect", output: out, inputs: [self]) { g in
            [
                IndexingKernels.scatterAdd(
                    base: Tensor(zeros: inShape), axis: a, index: idx,
                    indexShape: inShape.count == 1 ? [idx.count] : [idx.count], source: g.float())
            ]
        }
    }

    /// Checks scatter arguments; returns the normalised axis and the index values.
    private func scatterArguments(
        axis: Int, index: Tensor, source: Tensor, op: String
    ) -> (Int, [Int]) {
        let a = self.axis(axis)
        precondition(
            source.rank == rank, "\(op): source \(source.shape) and base \(shape) differ in rank")
        if index.rank == 1 && rank > 1 {
            precondition(
                index.shape[0] == source.shape[a]
                    && (0..<rank).allSatisfy { $0 == a || source.shape[$0] == shape[$0] },
                "\(op): 1-D index \(index.shape) needs source \(source.shape) to match base \(shape) off axis \(axis)"
            )
        } else {
            precondition(
                index.rank == rank
                    && (0..<rank).allSatisfy {
                        index.shape[$0] <= source.shape[$0]
                            && ($0 == a || index.shape[$0] <= shape[$0])
                    },
                "\(op): index \(index.shape) does not fit source \(source.shape) / base \(shape)")
        }
        return (a, index.indexValues(bound: shape[a], op: op))
    }

    /// torch.Tensor.scatter_add: self + (source added at the `axis` coordinates `index`).
    /// index has the source's rank, or is 1-D along `axis` and broadcast over the other axes
    /// (torch_scatter's convention, e.g. base [M, C], index [N], source [N, C]).
    public func scatterAdd(axis: Int, index: Tensor, source: Tensor) -> Tensor {
        let (a, idx) = scatterArguments(axis: axis, index: index, source: source, op: "scatterAdd")
        let base = float()
        let src = source.float()
        let out = IndexingKernels.scatterAdd(
            base: base, axis: a, index: idx, indexShape: index.shape, source: src)
        let sourceShape = source.shape
        return Tensor.record("scatterAdd", output: out, inputs: [base, src]) { g in
            let gc = g.float().contiguous()
            return [
                gc,
                IndexingKernels.scatterSourceGradient(
                    gc, axis: a, index: idx, indexShape: index.shape, sourceShape: sourceShape),
            ]
        }
    }

    /// torch_scatter's scatter_mean with `out` = self: (self + Σ scattered source) / count per
    /// target, where targets nobody scatters to keep their value (0 for a zero base).
    /// Same index conventions as `scatterAdd`.
    public func scatterMean(axis: Int, index: Tensor, source: Tensor) -> Tensor {
        let (a, idx) = scatterArguments(axis: axis, index: index, source: source, op: "scatterMean")
        let base = float()
        let src = source.float()
        let sums = IndexingKernels.scatterAdd(
            base: base, axis: a, index: idx, indexShape: index.shape, source: src)
        let counts = IndexingKernels.scatterAdd(
            base: Tensor(zeros: shape), axis: a, index: idx, indexShape: index.shape,
            source: Tensor(full: source.shape, value: 1))
        let pc = counts.floats
        for i in 0..<counts.count { pc[i] = Swift.max(pc[i], 1) }
        let out = IndexingKernels.divide(sums, by: counts)
        let sourceShape = source.shape
        return Tensor.record("scatterMean", output: out, inputs: [base, src]) { g in
            let gc = IndexingKernels.divide(g.float().contiguous(), by: counts)
            return [
                gc,
                IndexingKernels.scatterSourceGradient(
                    gc, axis: a, index: idx, indexShape: index.shape, sourceShape: sourceShape),
            ]
        }
    }

    /// Indices (int64) that sort this tensor along `axis`; stable, so equal keys keep their order.
    public func argsort(axis: Int = -1, descending: Bool = false) -> Tensor {
        let a = self.axis(axis)
        let outer = shape[..<a].reduce(1, *)
        let inner = shape[(a + 1)...].reduce(1, *)
        let out = Tensor(empty: shape, dtype: .int64)
        let po = out.pointer(as: Int64.self)
        switch dtype {
        case .int32:
            let c = rawContiguous()
            IndexingKernels.argsort(
                c.pointer(as: Int32.self), outer: outer, length: shape[a], inner: inner,
                descending: descending, into: po)
        case .int64:
            let c = rawContiguous()
            IndexingKernels.argsort(
                c.pointer(as: Int64.self), outer: outer, length: shape[a], inner: inner,
                descending: descending, into: po)
        default:
            let c = rawConverted(to: .float32).rawContiguous()
            IndexingKernels.argsort(
                c.pointer(as: Float.self), outer: outer, length: shape[a], inner: inner,
                descending: descending, into: po)
        }
        return out
    }

    /// torch.unique on 1-D int32/int64 keys: sorted distinct values (same dtype), and optionally
    /// the int64 inverse map (values[inverse] == self) and int64 counts. Values always come back
    /// sorted (`sorted` is accepted for parity: torch's CPU unique sorts integer keys anyway).
    public func unique(
        sorted: Bool = true, returnInverse: Bool = false, returnCounts: Bool = false
    ) -> (values: Tensor, inverse: Tensor?, counts: Tensor?) {
        precondition(
            rank == 1 && (dtype == .int32 || dtype == .int64),
            "unique: needs 1-D int32/int64 keys, got \(shape) \(dtype)")
        // Sorting is always done (as torch's CPU unique does for integer keys).
        let keys = toInts()
        let order = argsort(axis: 0).toInts()
        var values: [Int] = []
        var counts: [Int64] = []
        var inverse = [Int64](repeating: 0, count: keys.count)
        for i in order {
            if values.last != keys[i] {
                values.append(keys[i])
                counts.append(0)
            }
            counts[counts.count - 1] += 1
            inverse[i] = Int64(values.count - 1)
        }
        let v: Tensor =
            dtype == .int32
            ? Tensor(int32: values.map { Int32($0) }, shape: [values.count])
            : Tensor(int64: values.map { Int64($0) }, shape: [values.count])
        return (
            v,
            returnInverse ? Tensor(int64: inverse, shape: [keys.count]) : nil,
            returnCounts ? Tensor(int64: counts, shape: [counts.count]) : nil
        )
    }
}

extension IndexingKernels {
    /// Gradient of a scatter with respect to its source: each source element receives the
    /// gradient at the position it was scattered to (0 where the index does not reach).
    static func scatterSourceGradient(
        _ g: Tensor, axis: Int, index: [Int], indexShape: [Int], sourceShape: [Int]
    ) -> Tensor {
        if indexShape.count == 1 && sourceShape.count > 1 {
            return indexSelect(g, axis: axis, index: index)  // [source shape]
        }
        let out = Tensor(zeros: sourceShape)
        let po = out.floats
        let pg = g.floats
        let axisStride = Tensor.contiguousStrides(for: g.shape)[axis]
        let sourceStrides = Tensor.contiguousStrides(for: sourceShape)
        forEachPosition(indexShape, target: g.shape, axis: axis) { q, b in
            var rem = q
            var so = 0
            for d in stride(from: indexShape.count - 1, through: 0, by: -1) {
                so += (rem % indexShape[d]) * sourceStrides[d]
                rem /= indexShape[d]
            }
            po[so] = pg[b + index[q] * axisStride]
        }
        return out
    }

    /// Elementwise a / b of two contiguous float tensors of one shape.
    static func divide(_ a: Tensor, by b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "divide: \(a.shape) vs \(b.shape)")
        let out = Tensor(empty: a.shape)
        let (pa, pb, po) = (a.floats, b.floats, out.floats)
        for i in 0..<a.count { po[i] = pa[i] / pb[i] }
        return out
    }
}
