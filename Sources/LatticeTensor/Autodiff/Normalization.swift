// Differentiable normalisations and their backward rules: layerNorm (fused kernels both ways),
// rmsNorm and groupNorm (fused forward, backward from tensor ops), l2Normalize.
// Kernels are in Kernels/Norm.swift.

/// LayerNorm over the last dimension: (x - mean)/√(var + eps)·weight + bias, with the biased
/// variance (as PyTorch). `weight`/`bias` are [C] or nil.
public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
    let c = x.shape.last ?? 1
    let w = weight?.float().contiguous()
    let b = bias?.float().contiguous()
    if let w {
        precondition(w.shape == [c], "layerNorm weight \(w.shape) for input \(x.shape)")
    }
    if let b {
        precondition(b.shape == [c], "layerNorm bias \(b.shape) for input \(x.shape)")
    }
    let xc = x.float().contiguous()
    let (y, mean, rstd) = NormKernels.layerNorm(xc, weight: w, bias: b, eps: eps)
    var inputs = [xc]
    if let w { inputs.append(w) }
    if let b { inputs.append(b) }
    return Tensor.record("layerNorm", output: y, inputs: inputs) { g in
        let r = NormKernels.layerNormBackward(
            grad: g, x: xc, weight: w, mean: mean, rstd: rstd,
            needWeight: w?.requiresGrad ?? false, needBias: b?.requiresGrad ?? false)
        var grads: [Tensor?] = [xc.requiresGrad ? r.dx : nil]
        if w != nil { grads.append(r.dw) }
        if b != nil { grads.append(r.db) }
        return grads
    }
}

/// RMSNorm over the last dimension: x·rsqrt(mean(x²) + eps)·weight. `weight` is [C] or nil.
public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float = 1e-6) -> Tensor {
    let c = x.shape.last ?? 1
    let w = weight?.float().contiguous()
    if let w {
        precondition(w.shape == [c], "rmsNorm weight \(w.shape) for input \(x.shape)")
    }
    let xc = x.float().contiguous()
    let (y, rstd) = NormKernels.rmsNorm(xc, weight: w, eps: eps)
    var inputs = [xc]
    if let w { inputs.append(w) }
    return Tensor.record("rmsNorm", output: y, inputs: inputs) { g in
        // xhat = x·r; dx = r·(g·w - xhat·mean(g·w·xhat)); dw = Σ_rows g·xhat.
        let rows = xc.count / Swift.max(c, 1)
        let r = rstd.reshape([rows, 1])  // [rows, 1]
        let x2 = xc.reshape([rows, c])  // [rows, C]
        let g2 = g.reshape([rows, c])  // [rows, C]
        let xhat = x2 * r
        let gw = w.map { g2 * $0 } ?? g2
        let dot = (gw * xhat).mean(axes: [1], keepDims: true)  // [rows, 1]
        let dx = xc.requiresGrad ? (r * (gw - xhat * dot)).reshape(xc.shape) : nil
        var grads: [Tensor?] = [dx]
        if let w { grads.append(w.requiresGrad ? (g2 * xhat).sum(axes: [0]) : nil) }
        return grads
    }
}

/// GroupNorm of x [N, C, *] over `groups` channel groups (biased variance, as PyTorch);
/// `weight`/`bias` are per channel [C] or nil.
public func groupNorm(
    _ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5
) -> Tensor {
    precondition(x.rank >= 2, "groupNorm expects [N, C, *], got \(x.shape)")
    let n = x.shape[0]
    let c = x.shape[1]
    precondition(
        groups > 0 && c % groups == 0, "groupNorm: \(c) channels not divisible by \(groups) groups")
    let w = weight?.float().contiguous()
    let b = bias?.float().contiguous()
    if let w {
        precondition(w.shape == [c], "groupNorm weight \(w.shape) for input \(x.shape)")
    }
    if let b {
        precondition(b.shape == [c], "groupNorm bias \(b.shape) for input \(x.shape)")
    }
    let xc = x.float().contiguous()
    let (y, mean, rstd) = NormKernels.groupNorm(xc, groups: groups, weight: w, bias: b, eps: eps)
    var inputs = [xc]
    if let w { inputs.append(w) }
    if let b { inputs.append(b) }
    return Tensor.record("groupNorm", output: y, inputs: inputs) { g in
        let s = xc.count / Swift.max(n * c, 1)
        let x3 = xc.reshape([n, c, s])  // [N, C, S]
        let g3 = g.reshape([n, c, s])  // [N, C, S]
        let m = mean.reshape([n, groups, 1, 1])  // [N, G, 1, 1]
        let r = rstd.reshape([n, groups, 1, 1])  // [N, G, 1, 1]
        let xhat = ((x3.reshape([n, groups, c / groups, s]) - m) * r)  // [N, G, C/G, S]
        let gw = w.map { g3 * $0.reshape([1, c, 1]) } ?? g3  // [N, C, S]
        let gw4 = gw.reshape([n, groups, c / groups, s])  // [N, G, C/G, S]
        var grads: [Tensor?] = []
        if xc.requiresGrad {
            let a = gw4.mean(axes: [2, 3], keepDims: true)  // [N, G, 1, 1]
            let cc = (gw4 * xhat).mean(axes: [2, 3], keepDims: true)  // [N, G, 1, 1]
            grads.append((r * (gw4 - a - xhat * cc)).reshape(xc.shape))
        } else {
            grads.append(nil)
        }
        if let w {
            grads.append(
                w.requiresGrad ? (g3 * xhat.reshape([n, c, s])).sum(axes: [0, 2]) : nil)
        }
        if let b { grads.append(b.requiresGrad ? g3.sum(axes: [0, 2]) : nil) }
        return grads
    }
}

extension Tensor {
    /// x / max(‖x‖₂, eps) along `axis`, as torch.nn.functional.normalize.
    public func l2Normalize(axis: Int = -1, eps: Float = 1e-12) -> Tensor {
        let a = self.axis(axis)
        let x = float()
        let (y, norm, denom) = withNoGrad { () -> (Tensor, Tensor, Tensor) in
            let norm = (x * x).sum(axes: [a], keepDims: true).sqrt()
            let denom = norm.clamp(min: eps)
            return (x / denom, norm, denom)
        }
        return Tensor.record("l2Normalize", output: y, inputs: [x]) { g in
            // Where ‖x‖ >= eps: (g - y·Σ g·y)/‖x‖; below eps the denominator is constant: g/eps.
            let s = (g * y).sum(axes: [a], keepDims: true)
            let active = `where`(norm.ge(eps), s, Tensor(scalar: 0))
            return [(g - y * active) / denom]
        }
    }
}
