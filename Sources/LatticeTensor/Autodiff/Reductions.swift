// Differentiable reductions (sum, mean, max, min, variance), argmax, and softmax/logSoftmax
// with their backward rules. Kernels are in Kernels/Reduce.swift.
//
// Tie rule for max/min: like PyTorch's amax/amin (and max()/min() over all elements), the
// gradient is split evenly among all elements equal to the extreme value.
// An explicit empty axes list reduces nothing (nil means all axes).

extension Tensor {
    /// Normalised reduction axes (nil -> all).
    private func reductionAxes(_ axes: [Int]?) -> Set<Int> {
        guard let axes else { return Set(0..<rank) }
        return Set(axes.map { axis($0) })
    }

    /// The keep-dims result reshaped to drop reduced axes when `keepDims` is false (raw view).
    private static func finish(_ kept: Tensor, axes: Set<Int>, keepDims: Bool) -> Tensor {
        if keepDims { return kept }
        let shape = kept.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        return Tensor(
            storage: kept.storage, shape: shape, strides: Tensor.contiguousStrides(for: shape),
            offset: kept.offset, dtype: kept.dtype)
    }

    private func reduceOp(_ op: ReduceOp, axes: [Int]?, keepDims: Bool) -> Tensor {
        let x = float()
        let ax = reductionAxes(axes)
        let kept = ReduceKernels.reduce(op, x, axes: ax)  // input shape with reduced axes = 1
        let out = Tensor.finish(kept, axes: ax, keepDims: keepDims)
        let keepShape = kept.shape
        let inShape = shape
        return Tensor.record("\(op)", output: out, inputs: [x]) { g in
            let gk = g.reshape(keepShape)
            switch op {
            case .sum:
                return [gk.expand(inShape)]
            case .max, .min:
                let mask = x.eq(kept)
                let count = ReduceKernels.reduce(
                    .sum, `where`(mask, Tensor(scalar: 1), Tensor(scalar: 0)), axes: ax)
                return [`where`(mask, gk / count, Tensor(scalar: 0))]
            }
        }
    }

    /// Sum over `axes` (nil: all).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        reduceOp(.sum, axes: axes, keepDims: keepDims)
    }

    /// Mean over `axes` (nil: all).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let n = reductionAxes(axes).reduce(1) { $0 * shape[$1] }
        return sum(axes: axes, keepDims: keepDims) * (1 / Float(Swift.max(n, 1)))
    }

    /// Maximum over `axes` (nil: all); ties share the gradient evenly. NaN propagates.
    public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        reduceOp(.max, axes: axes, keepDims: keepDims)
    }

    /// Minimum over `axes` (nil: all); ties share the gradient evenly. NaN propagates.
    public func min(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        reduceOp(.min, axes: axes, keepDims: keepDims)
    }

    /// Variance over `axes` (nil: all); `unbiased` divides by n - 1 (Bessel), as torch.var.
    public func variance(axes: [Int]? = nil, keepDims: Bool = false, unbiased: Bool = true)
        -> Tensor
    {
        let n = reductionAxes(axes).reduce(1) { $0 * shape[$1] }
        let centered = self - mean(axes: axes, keepDims: true)
        let denom = Float(Swift.max(unbiased ? n - 1 : n, 0))
        return (centered * centered).sum(axes: axes, keepDims: keepDims) / denom
    }

    /// Index of the first maximum along `axis` (nil: over all elements, flattened), as
    /// `.int64`. NaN counts as the maximum, as PyTorch.
    public func argmax(axis: Int? = nil, keepDims: Bool = false) -> Tensor {
        let x = float()
        guard let axis else {
            let flat = x.rawContiguous()
            let idx = ReduceKernels.argmax(
                Tensor(
                    storage: flat.storage, shape: [count], strides: [1], offset: flat.offset,
                    dtype: .float32), axis: 0)  // []
            if !keepDims { return idx }
            let ones = [Int](repeating: 1, count: rank)
            return Tensor(storage: idx.storage, shape: ones, strides: ones, dtype: .int64)
        }
        let a = self.axis(axis)
        let idx = ReduceKernels.argmax(x, axis: a)
        if !keepDims { return idx }
        var shape = self.shape
        shape[a] = 1
        return Tensor(
            storage: idx.storage, shape: shape, strides: Tensor.contiguousStrides(for: shape),
            dtype: .int64)
    }

    // MARK: Softmax

    private func softmaxOp(axis: Int, log: Bool) -> Tensor {
        let a = self.axis(axis)
        if rank > 0 && a != rank - 1 {
            // Move the axis last, use the row kernel, and move it back (views, differentiable).
            return transpose(a, rank - 1).softmaxOp(axis: -1, log: log).transpose(a, rank - 1)
        }
        let x = float().contiguous()
        let y = ReduceKernels.softmax(x, log: log)
        return Tensor.record(log ? "logSoftmax" : "softmax", output: y, inputs: [x]) { g in
            [ReduceKernels.softmaxBackward(y: y, grad: g, log: log)]
        }
    }

    /// Softmax along `axis` (max-subtracted; a row of all -inf gives NaN, as PyTorch).
    public func softmax(axis: Int = -1) -> Tensor { softmaxOp(axis: axis, log: false) }

    /// log(softmax(x)) along `axis`, computed as x - max - log Σ e^(x - max).
    public func logSoftmax(axis: Int = -1) -> Tensor { softmaxOp(axis: axis, log: true) }
}
