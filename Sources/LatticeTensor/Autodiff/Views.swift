// Movement ops as views (no copies) and their backward rules: reshape, permute, transpose,
// slice, expand, squeeze/unsqueeze, plus contiguous() and dtype conversion.

extension Tensor {
    /// Same elements with a new shape. A view when the layout allows, else a copy
    /// (as PyTorch's reshape). One extent may be -1.
    public func reshape(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let i = target.firstIndex(of: -1) {
            let known = target.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            target[i] = count / known
        }
        precondition(Tensor.count(of: target) == count, "cannot reshape \(shape) to \(newShape)")
        let base = isContiguous ? self : contiguous()
        let out = Tensor(
            storage: base.storage, shape: target, strides: Tensor.contiguousStrides(for: target),
            offset: base.offset, dtype: dtype)
        let inShape = shape
        return Tensor.record("reshape", output: out, inputs: [base === self ? self : base]) { g in
            [g.reshape(inShape)]
        }
    }

    /// Flattens dimensions `start...end` into one.
    public func flatten(from start: Int = 0, to end: Int = -1) -> Tensor {
        if rank == 0 { return reshape([1]) }
        let s = axis(start)
        let e = axis(end)
        let merged = shape[s...e].reduce(1, *)
        return reshape(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }

    /// Reorders dimensions: result dimension i is this tensor's dimension `order[i]`.
    public func permute(_ order: [Int]) -> Tensor {
        let o = order.map { axis($0) }
        precondition(
            Set(o).count == rank && o.count == rank, "bad permutation \(order) for rank \(rank)")
        let out = Tensor(
            storage: storage, shape: o.map { shape[$0] }, strides: o.map { strides[$0] },
            offset: offset, dtype: dtype)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, d) in o.enumerated() { inverse[d] = i }
        return Tensor.record("permute", output: out, inputs: [self]) { g in [g.permute(inverse)] }
    }

    /// Swaps two dimensions.
    public func transpose(_ a: Int, _ b: Int) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(axis(a), axis(b))
        return permute(order)
    }

    /// Elements `start..<end` (step `step`) along `dim`, as a view. Bounds clamp as Python's.
    public func slice(_ dim: Int, _ start: Int, _ end: Int? = nil, step: Int = 1) -> Tensor {
        precondition(step > 0, "slice step must be positive, got \(step)")
        let d = axis(dim)
        let n = shape[d]
        func clampIndex(_ i: Int) -> Int { Swift.min(Swift.max(i < 0 ? i + n : i, 0), n) }
        let lo = clampIndex(start)
        let hi = Swift.max(lo, clampIndex(end ?? n))
        let len = (hi - lo + step - 1) / step
        var newShape = shape
        newShape[d] = len
        var newStrides = strides
        newStrides[d] = strides[d] * step
        let out = Tensor(
            storage: storage, shape: newShape, strides: newStrides,
            offset: offset + lo * strides[d], dtype: dtype)
        let inShape = shape
        return Tensor.record("slice", output: out, inputs: [self]) { g in
            let full = Tensor(zeros: inShape)
            let window = full.slice(d, lo, hi, step: step)
            g.copyElementsStrided(into: window)
            return [full]
        }
    }

    /// Element `index` along `dim`, dropping that dimension.
    public func select(_ dim: Int, _ index: Int) -> Tensor {
        let d = axis(dim)
        let i = index < 0 ? index + shape[d] : index
        precondition(
            i >= 0 && i < shape[d], "index \(index) out of range for dim \(dim) of \(shape)")
        return slice(d, i, i + 1).squeeze(d)
    }

    /// Broadcasts size-1 dimensions (and new leading ones) to `newShape`, as a view.
    /// An extent of -1 keeps the existing one.
    public func expand(_ newShape: [Int]) -> Tensor {
        precondition(newShape.count >= rank, "cannot expand \(shape) to \(newShape)")
        let lead = newShape.count - rank
        var outShape = newShape
        var outStrides = [Int](repeating: 0, count: newShape.count)
        for i in 0..<newShape.count {
            if i < lead {
                precondition(newShape[i] >= 0, "cannot expand \(shape) to \(newShape)")
                continue
            }
            let s = shape[i - lead]
            let t = newShape[i] == -1 ? s : newShape[i]
            precondition(s == t || s == 1, "cannot expand \(shape) to \(newShape)")
            outShape[i] = t
            outStrides[i] = s == t ? strides[i - lead] : 0
        }
        if outShape == shape { return self }
        let out = Tensor(
            storage: storage, shape: outShape, strides: outStrides, offset: offset, dtype: dtype)
        let inShape = shape
        return Tensor.record("expand", output: out, inputs: [self]) { g in [g.sumTo(inShape)] }
    }

    /// Removes size-1 dimension `dim` (or all size-1 dimensions when nil).
    public func squeeze(_ dim: Int? = nil) -> Tensor {
        var keep = Array(0..<rank)
        if let dim {
            let d = axis(dim)
            precondition(
                shape[d] == 1, "cannot squeeze dim \(dim) of extent \(shape[d]) in \(shape)")
            keep.remove(at: d)
        } else {
            keep = keep.filter { shape[$0] != 1 }
        }
        let out = Tensor(
            storage: storage, shape: keep.map { shape[$0] }, strides: keep.map { strides[$0] },
            offset: offset, dtype: dtype)
        let inShape = shape
        return Tensor.record("squeeze", output: out, inputs: [self]) { g in [g.reshape(inShape)] }
    }

    /// Inserts a size-1 dimension at `dim` (negative counts from the end of the result).
    public func unsqueeze(_ dim: Int) -> Tensor {
        let d = dim < 0 ? dim + rank + 1 : dim
        precondition(d >= 0 && d <= rank, "unsqueeze dim \(dim) out of range for rank \(rank)")
        var s = shape
        var st = strides
        s.insert(1, at: d)
        st.insert(d < rank ? strides[d] * shape[d] : 1, at: d)
        let out = Tensor(storage: storage, shape: s, strides: st, offset: offset, dtype: dtype)
        let inShape = shape
        return Tensor.record("unsqueeze", output: out, inputs: [self]) { g in [g.reshape(inShape)] }
    }

    /// A row-major copy, or self when already contiguous.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let out = rawContiguous()
        return Tensor.record("contiguous", output: out, inputs: [self]) { g in [g] }
    }

    /// Converts to `target` dtype. Gradients flow between float dtypes.
    public func to(_ target: DType) -> Tensor {
        if target == dtype { return self }
        let out = rawConverted(to: target)
        guard dtype.isFloatingPoint && target.isFloatingPoint else { return out }
        let source = dtype
        return Tensor.record("to", output: out, inputs: [self]) { g in [g.to(source)] }
    }

    /// Shorthand for `to(.float32)`.
    public func float() -> Tensor { to(.float32) }

    /// Sums a broadcast gradient back to `target` shape (the inverse of broadcasting): leading
    /// extra dimensions and dimensions where `target` has extent 1 are summed away.
    public func sumTo(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        precondition(lead >= 0, "cannot sum \(shape) to \(target)")
        var axes = Array(0..<lead)
        for i in lead..<rank where target[i - lead] != shape[i] {
            precondition(target[i - lead] == 1, "cannot sum \(shape) to \(target)")
            axes.append(i)
        }
        return float().sum(axes: axes, keepDims: true).reshape(target)
    }

    /// Writes this tensor's elements into `view` (same shape), which must not require grad.
    /// Used by backward rules to scatter a gradient into a zero buffer.
    public func copyElementsStrided(into view: Tensor) {
        precondition(view.shape == shape, "copy of shape \(shape) into \(view.shape)")
        let src = to(view.dtype)
        Tensor.stridedCopy(
            src: src.storage.data + src.offset * src.dtype.byteSize, srcStrides: src.strides,
            dst: view.storage.data + view.offset * view.dtype.byteSize, dstStrides: view.strides,
            shape: shape, elementSize: view.dtype.byteSize)
    }
}
