// Raw resampling kernels (no autodiff). Every interpolate mode is separable: per axis, each
// output index reads a few input indices with fixed weights ("taps"), computed here exactly as
// ATen's CPU upsample kernels compute them (float arithmetic, same clamping). Resizing applies
// the taps axis by axis; the backward pass applies their transpose. grid_sample lives here too.

/// Per-output-index source indices and weights along one axis.
struct AxisTaps {
    let inSize: Int
    let outSize: Int
    /// Taps per output index (unused slots have weight 0).
    let width: Int
    /// [outSize * width] source indices.
    var index: [Int]
    /// [outSize * width] weights.
    var weight: [Float]

    init(inSize: Int, outSize: Int, width: Int) {
        self.inSize = inSize
        self.outSize = outSize
        self.width = width
        index = [Int](repeating: 0, count: outSize * width)
        weight = [Float](repeating: 0, count: outSize * width)
    }

    /// True when the taps copy input to output unchanged.
    var isIdentity: Bool {
        guard inSize == outSize else { return false }
        for j in 0..<outSize {
            for t in 0..<width where weight[j * width + t] != 0 {
                if index[j * width + t] != j || weight[j * width + t] != 1 { return false }
            }
        }
        return true
    }
}

enum InterpolationKernels {
    /// ATen's area_pixel_compute_scale: in/out for a size-specified resize, 1/scale_factor when
    /// the caller gave a scale factor (`given`), (in-1)/(out-1) with aligned corners.
    static func scale(_ inSize: Int, _ outSize: Int, alignCorners: Bool, given: Double? = nil)
        -> Float
    {
        if alignCorners { return outSize > 1 ? Float(inSize - 1) / Float(outSize - 1) : 0 }
        if let given, given > 0 { return Float(1.0 / given) }
        return Float(inSize) / Float(outSize)
    }

    /// ATen's area_pixel_compute_source_index.
    static func sourceIndex(_ scale: Float, _ dst: Int, alignCorners: Bool, cubic: Bool) -> Float {
        if alignCorners { return scale * Float(dst) }
        let src = scale * (Float(dst) + 0.5) - 0.5
        return (!cubic && src < 0) ? 0 : src
    }

    /// Nearest: src = min(floor(dst · in/out), in - 1), with ATen's exact-size shortcuts.
    static func nearest(inSize: Int, outSize: Int, given: Double? = nil) -> AxisTaps {
        var taps = AxisTaps(inSize: inSize, outSize: outSize, width: 1)
        let s = scale(inSize, outSize, alignCorners: false, given: given)
        for j in 0..<outSize {
            let i: Int
            if outSize == inSize {
                i = j
            } else if outSize == 2 * inSize {
                i = j >> 1
            } else {
                i = Swift.min(Int((Float(j) * s).rounded(.down)), inSize - 1)
            }
            taps.index[j] = i
            taps.weight[j] = 1
        }
        return taps
    }

    /// Linear (bilinear/trilinear per axis): two taps, ATen's guard_index_and_lambda clamping.
    static func linear(inSize: Int, outSize: Int, alignCorners: Bool, given: Double? = nil)
        -> AxisTaps
    {
        var taps = AxisTaps(inSize: inSize, outSize: outSize, width: 2)
        let s = scale(inSize, outSize, alignCorners: alignCorners, given: given)
        for j in 0..<outSize {
            if outSize == inSize {
                taps.index[2 * j] = j
                taps.index[2 * j + 1] = j
                taps.weight[2 * j] = 1
                continue
            }
            let real = sourceIndex(s, j, alignCorners: alignCorners, cubic: false)
            let i0 = Swift.min(Int(real.rounded(.down)), inSize - 1)
            let l1 = Swift.min(Swift.max(real - Float(i0), 0), 1)
            taps.index[2 * j] = i0
            taps.index[2 * j + 1] = i0 + (i0 < inSize - 1 ? 1 : 0)
            taps.weight[2 * j] = 1 - l1
            taps.weight[2 * j + 1] = l1
        }
        return taps
    }

    /// Keys cubic convolution weights for |x| <= 1 and 1 < |x| < 2.
    static func cubic1(_ x: Float, _ a: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
    static func cubic2(_ x: Float, _ a: Float) -> Float {
        ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    }

    /// Bicubic without antialiasing: four taps with a = -0.75, indices clamped to the border.
    static func cubic(inSize: Int, outSize: Int, alignCorners: Bool, given: Double? = nil)
        -> AxisTaps
    {
        var taps = AxisTaps(inSize: inSize, outSize: outSize, width: 4)
        let s = scale(inSize, outSize, alignCorners: alignCorners, given: given)
        let a: Float = -0.75
        for j in 0..<outSize {
            let real = sourceIndex(s, j, alignCorners: alignCorners, cubic: true)
            let i0 = Swift.min(Int(real.rounded(.down)), inSize - 1)
            let t = Swift.min(Swift.max(real - Float(i0), 0), 1)
            let w: [Float] = [cubic2(t + 1, a), cubic1(t, a), cubic1(1 - t, a), cubic2(2 - t, a)]
            for k in 0..<4 {
                taps.index[4 * j + k] = Swift.min(Swift.max(i0 - 1 + k, 0), inSize - 1)
                taps.weight[4 * j + k] = w[k]
            }
        }
        return taps
    }

    /// Antialiased filter taps as ATen's _compute_indices_min_size_weights_aa (float path):
    /// support interpSize/2 widened by the downscale factor, filter evaluated at
    /// (x - center + 0.5) / max(scale, 1), weights normalised per output index.
    static func antialiased(inSize: Int, outSize: Int, cubic: Bool, given: Double? = nil)
        -> AxisTaps
    {
        let interpSize: Float = cubic ? 4 : 2
        let scale = InterpolationKernels.scale(inSize, outSize, alignCorners: false, given: given)
        let support: Float = scale >= 1 ? (interpSize * 0.5) * scale : interpSize * 0.5
        let maxTaps = Int(support.rounded(.up)) * 2 + 1
        let invScale: Float = scale >= 1 ? Float(1.0 / Double(scale)) : 1
        func filter(_ x: Float) -> Float {
            let x = Swift.abs(x)
            if cubic {
                let a: Float = -0.5
                if x < 1 { return cubic1(x, a) }
                if x < 2 { return cubic2(x, a) }
                return 0
            }
            return x < 1 ? 1 - x : 0
        }
        var taps = AxisTaps(inSize: inSize, outSize: outSize, width: maxTaps)
        for i in 0..<outSize {
            // Mixed float/double promotions follow the C++ expression types term by term.
            let center = Float(Double(scale) * (Double(i) + 0.5))
            let xmin = Swift.max(Int(Double(center - support) + 0.5), 0)
            var xsize = Swift.min(Int(Double(center + support) + 0.5), inSize) - xmin
            xsize = Swift.min(Swift.max(xsize, 0), maxTaps)
            var total: Float = 0
            var w = [Float](repeating: 0, count: xsize)
            for j in 0..<xsize {
                w[j] = filter(Float((Double(Float(j + xmin) - center) + 0.5) * Double(invScale)))
                total += w[j]
            }
            for j in 0..<xsize {
                taps.index[i * maxTaps + j] = xmin + j
                taps.weight[i * maxTaps + j] = total != 0 ? w[j] / total : 0
            }
            for j in xsize..<maxTaps { taps.index[i * maxTaps + j] = xmin }
        }
        return taps
    }

    /// Resamples axis `axis` of contiguous float `x` with `taps`; returns a new contiguous tensor.
    static func apply(_ x: Tensor, axis: Int, taps: AxisTaps) -> Tensor {
        precondition(x.shape[axis] == taps.inSize, "taps for \(taps.inSize) on axis of \(x.shape)")
        var shape = x.shape
        shape[axis] = taps.outSize
        let out = Tensor(empty: shape)
        let outer = x.shape[..<axis].reduce(1, *)
        let inner = x.shape[(axis + 1)...].reduce(1, *)
        let (li, lo, width) = (taps.inSize, taps.outSize, taps.width)
        let px = x.floats
        let py = out.floats
        taps.index.withUnsafeBufferPointer { idx in
            taps.weight.withUnsafeBufferPointer { wt in
                Parallel.forRange(outer * lo, grain: Swift.max(1, 4096 / Swift.max(inner, 1))) {
                    r in
                    for row in r {
                        let (o, j) = (row / lo, row % lo)
                        let dst = py + row * inner
                        for i in 0..<inner { dst[i] = 0 }
                        for t in 0..<width {
                            let w = wt[j * width + t]
                            if w == 0 { continue }
                            let src = px + (o * li + idx[j * width + t]) * inner
                            for i in 0..<inner { dst[i] += w * src[i] }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The transpose of `apply`: scatters gradient `g` (axis of size outSize) back to inSize.
    static func applyTransposed(_ g: Tensor, axis: Int, taps: AxisTaps) -> Tensor {
        precondition(
            g.shape[axis] == taps.outSize, "taps for \(taps.outSize) on axis of \(g.shape)")
        var shape = g.shape
        shape[axis] = taps.inSize
        let out = Tensor(zeros: shape)
        let outer = g.shape[..<axis].reduce(1, *)
        let inner = g.shape[(axis + 1)...].reduce(1, *)
        let (li, lo, width) = (taps.inSize, taps.outSize, taps.width)
        let pg = g.floats
        let px = out.floats
        taps.index.withUnsafeBufferPointer { idx in
            taps.weight.withUnsafeBufferPointer { wt in
                // Each outer slice is written by one thread only, in a fixed order.
                Parallel.forRange(outer, grain: 1) { r in
                    for o in r {
                        for j in 0..<lo {
                            let src = pg + (o * lo + j) * inner
                            for t in 0..<width {
                                let w = wt[j * width + t]
                                if w == 0 { continue }
                                let dst = px + (o * li + idx[j * width + t]) * inner
                                for i in 0..<inner { dst[i] += w * src[i] }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Un-normalises a grid coordinate in [-1, 1] to a pixel coordinate; returns it and its
    /// derivative with respect to the grid value.
    @inline(__always)
    static func unnormalize(_ c: Float, size: Int, alignCorners: Bool) -> (Float, Float) {
        if alignCorners { return ((c + 1) / 2 * Float(size - 1), Float(size - 1) / 2) }
        return (((c + 1) * Float(size) - 1) / 2, Float(size) / 2)
    }

    /// Bilinear grid_sample with zero padding: x [N, C, H, W], grid [N, Ho, Wo, 2] -> [N, C, Ho, Wo].
    static func gridSample(x: Tensor, grid: Tensor, alignCorners: Bool) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ho, wo) = (grid.shape[1], grid.shape[2])
        let out = Tensor(empty: [n, c, ho, wo])
        let px = x.floats
        let pg = grid.floats
        let py = out.floats
        Parallel.forRange(n * ho * wo, grain: 256) { r in
            for q in r {
                let b = q / (ho * wo)
                let pix = q % (ho * wo)
                let ix = unnormalize(pg[2 * q], size: w, alignCorners: alignCorners).0
                let iy = unnormalize(pg[2 * q + 1], size: h, alignCorners: alignCorners).0
                let x0 = Int(ix.rounded(.down))
                let y0 = Int(iy.rounded(.down))
                let fx = ix - Float(x0)
                let fy = iy - Float(y0)
                let corners = [
                    (x0, y0, (1 - fx) * (1 - fy)), (x0 + 1, y0, fx * (1 - fy)),
                    (x0, y0 + 1, (1 - fx) * fy), (x0 + 1, y0 + 1, fx * fy),
                ]
                for ch in 0..<c {
                    let plane = px + (b * c + ch) * h * w
                    var s: Float = 0
                    for (cx, cy, wt) in corners where cx >= 0 && cx < w && cy >= 0 && cy < h {
                        s += wt * plane[cy * w + cx]
                    }
                    py[(b * c + ch) * ho * wo + pix] = s
                }
            }
        }
        return out
    }

    /// Gradients of `gridSample` with respect to x and grid, given the output gradient gy.
    static func gridSampleBackward(
        x: Tensor, grid: Tensor, gy: Tensor, alignCorners: Bool
    ) -> (gx: Tensor, ggrid: Tensor) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ho, wo) = (grid.shape[1], grid.shape[2])
        let gx = Tensor(zeros: x.shape)
        let ggrid = Tensor(zeros: grid.shape)
        let px = x.floats
        let pg = grid.floats
        let pgy = gy.floats
        let pgx = gx.floats
        let pgg = ggrid.floats
        // Parallel over the batch: samples of one image scatter into the same gx planes.
        Parallel.forRange(n, grain: 1) { r in
            for b in r {
                for pix in 0..<(ho * wo) {
                    let q = b * ho * wo + pix
                    let (ix, dx) = unnormalize(pg[2 * q], size: w, alignCorners: alignCorners)
                    let (iy, dy) = unnormalize(pg[2 * q + 1], size: h, alignCorners: alignCorners)
                    let x0 = Int(ix.rounded(.down))
                    let y0 = Int(iy.rounded(.down))
                    let fx = ix - Float(x0)
                    let fy = iy - Float(y0)
                    // (x, y, weight, d weight / d ix, d weight / d iy)
                    let corners = [
                        (x0, y0, (1 - fx) * (1 - fy), -(1 - fy), -(1 - fx)),
                        (x0 + 1, y0, fx * (1 - fy), 1 - fy, -fx),
                        (x0, y0 + 1, (1 - fx) * fy, -fy, 1 - fx),
                        (x0 + 1, y0 + 1, fx * fy, fy, fx),
                    ]
                    var gix: Float = 0
                    var giy: Float = 0
                    for ch in 0..<c {
                        let go = pgy[(b * c + ch) * ho * wo + pix]
                        let base = (b * c + ch) * h * w
                        for (cx, cy, wt, wdx, wdy) in corners
                        where cx >= 0 && cx < w && cy >= 0 && cy < h {
                            let v = px[base + cy * w + cx]
                            pgx[base + cy * w + cx] += wt * go
                            gix += wdx * v * go
                            giy += wdy * v * go
                        }
                    }
                    pgg[2 * q] = gix * dx
                    pgg[2 * q + 1] = giy * dy
                }
            }
        }
        return (gx, ggrid)
    }
}
