// Fused normalisation kernels: LayerNorm (forward and backward), RMSNorm and GroupNorm forward.
// Autodiff wrappers and the remaining backward math live in Autodiff/Normalization.swift.
import CLatticeKernels

/// Rows handled per thread at minimum, so small norms stay on one thread.
private func rowGrain(_ cols: Int) -> Int { Swift.max(1, 16384 / Swift.max(cols, 1)) }

/// Optional tensor -> optional pointer, for kernels that accept NULL weights.
private func optionalFloats(_ t: Tensor?) -> UnsafeMutablePointer<Float>? { t?.floats }

/// Raw LayerNorm/RMSNorm/GroupNorm kernels. Public so callers with their own buffers (fused
/// blocks, benchmarks) can call them; inputs are contiguous float32.
public enum NormKernels {
    /// LayerNorm over the last dimension: returns y and per-row mean and 1/std ([rows]).
    public static func layerNorm(
        _ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float
    ) -> (y: Tensor, mean: Tensor, rstd: Tensor) {
        let cols = x.shape.last ?? 1
        let rows = x.count / Swift.max(cols, 1)
        let y = Tensor(empty: x.shape)
        let mean = Tensor(empty: [rows])  // [rows]
        let rstd = Tensor(empty: [rows])  // [rows]
        layerNorm(x, weight: weight, bias: bias, eps: eps, y: y, mean: mean, rstd: rstd)
        return (y, mean, rstd)
    }

    /// LayerNorm into preallocated outputs.
    public static func layerNorm(
        _ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float, y: Tensor, mean: Tensor,
        rstd: Tensor
    ) {
        let cols = x.shape.last ?? 1
        let rows = x.count / Swift.max(cols, 1)
        let px = x.floats
        let pw = optionalFloats(weight)
        let pb = optionalFloats(bias)
        let py = y.floats
        let pm = mean.floats
        let pr = rstd.floats
        Parallel.forRange(rows, grain: rowGrain(cols)) { r in
            let o = r.lowerBound
            lt_layernorm_fwd_f32(
                px + o * cols, pw, pb, py + o * cols, pm + o, pr + o, Int64(r.count),
                Int64(cols), eps)
        }
    }

    /// LayerNorm backward: dx, and dw/db when requested (summed over rows in a fixed order
    /// per thread count).
    static func layerNormBackward(
        grad g: Tensor, x: Tensor, weight: Tensor?, mean: Tensor, rstd: Tensor,
        needWeight: Bool, needBias: Bool
    ) -> (dx: Tensor, dw: Tensor?, db: Tensor?) {
        let gc = g.float().rawContiguous()
        let cols = x.shape.last ?? 1
        let rows = x.count / Swift.max(cols, 1)
        let dx = Tensor(empty: x.shape)
        let pg = gc.floats
        let px = x.floats
        let pw = optionalFloats(weight)
        let pm = mean.floats
        let pr = rstd.floats
        let pdx = dx.floats
        Parallel.forRange(rows, grain: rowGrain(cols)) { r in
            let o = r.lowerBound
            lt_layernorm_bwd_dx_f32(
                pg + o * cols, px + o * cols, pw, pm + o, pr + o, pdx + o * cols,
                Int64(r.count), Int64(cols))
        }
        guard needWeight || needBias else { return (dx, nil, nil) }
        // Per-thread partial sums over row chunks, combined in chunk order.
        let parts = Swift.max(1, Swift.min(Parallel.threadCount, rows / 64))
        let step = (rows + parts - 1) / parts
        let partials = Tensor(zeros: [parts, 2, cols])  // [parts, (dw, db), C]
        let pp = partials.floats
        Parallel.run(chunks: parts) { p in
            let lo = p * step
            let hi = Swift.min(rows, lo + step)
            guard lo < hi else { return }
            lt_layernorm_bwd_dwdb_f32(
                pg + lo * cols, px + lo * cols, pm + lo, pr + lo,
                needWeight ? pp + p * 2 * cols : nil, needBias ? pp + (p * 2 + 1) * cols : nil,
                Int64(hi - lo), Int64(cols))
        }
        let sums = ReduceKernels.reduce(.sum, partials, axes: [0])  // [1, 2, C]
        let ps = sums.floats
        let dw = needWeight ? Tensor(empty: [cols]) : nil
        let db = needBias ? Tensor(empty: [cols]) : nil
        dw?.floats.update(from: ps, count: cols)
        db?.floats.update(from: ps + cols, count: cols)
        return (dx, dw, db)
    }

    /// RMSNorm over the last dimension: y and per-row 1/rms ([rows]).
    public static func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) -> (
        y: Tensor, rstd: Tensor
    ) {
        let cols = x.shape.last ?? 1
        let rows = x.count / Swift.max(cols, 1)
        let y = Tensor(empty: x.shape)
        let rstd = Tensor(empty: [rows])  // [rows]
        let px = x.floats
        let pw = optionalFloats(weight)
        let py = y.floats
        let pr = rstd.floats
        Parallel.forRange(rows, grain: rowGrain(cols)) { r in
            let o = r.lowerBound
            lt_rmsnorm_fwd_f32(
                px + o * cols, pw, py + o * cols, pr + o, Int64(r.count), Int64(cols), eps)
        }
        return (y, rstd)
    }

    /// GroupNorm of x [N, C, S...] with `groups` groups: y and per-group mean and 1/std
    /// ([N * groups]).
    public static func groupNorm(
        _ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float
    ) -> (y: Tensor, mean: Tensor, rstd: Tensor) {
        let n = x.shape[0]
        let c = x.shape[1]
        let spatial = x.count / Swift.max(n * c, 1)
        let cpg = c / groups
        let y = Tensor(empty: x.shape)
        let mean = Tensor(empty: [n * groups])  // [N*G]
        let rstd = Tensor(empty: [n * groups])  // [N*G]
        let px = x.floats
        let pw = optionalFloats(weight)
        let pb = optionalFloats(bias)
        let py = y.floats
        let pm = mean.floats
        let pr = rstd.floats
        Parallel.forRange(n * groups, grain: rowGrain(cpg * spatial)) { r in
            lt_groupnorm_fwd_f32(
                px, pw, pb, py, pm, pr, Int64(r.lowerBound), Int64(r.upperBound), Int64(groups),
                Int64(cpg), Int64(spatial), eps)
        }
        return (y, mean, rstd)
    }
}
