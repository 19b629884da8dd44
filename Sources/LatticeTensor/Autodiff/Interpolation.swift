// Resampling ops and their backward rules: interpolate (torch.nn.functional.interpolate with a
// target size: nearest, bilinear, bicubic, trilinear, optional antialiasing) and gridSample
// (bilinear, zero padding). Kernels live in Kernels/InterpolationKernels.swift.

/// Resampling filter of `interpolate`.
public enum InterpolationMode: Sendable {
    /// Nearest neighbour, PyTorch's legacy "nearest" (floor of dst · in/out).
    case nearest
    /// Linear on the two spatial axes of [N, C, H, W].
    case bilinear
    /// Cubic (a = -0.75; a = -0.5 antialiased) on the two spatial axes of [N, C, H, W].
    case bicubic
    /// Linear on the three spatial axes of [N, C, D, H, W].
    case trilinear
}

/// Resizes the spatial axes of x ([N, C, H, W] or [N, C, D, H, W]) to `size`, matching
/// torch.nn.functional.interpolate(x, size=size, mode=..., align_corners=..., antialias=...).
/// Antialiasing applies to bilinear and bicubic only, with alignCorners false.
public func interpolate(
    _ x: Tensor, size: [Int], mode: InterpolationMode, alignCorners: Bool = false,
    antialias: Bool = false
) -> Tensor {
    resample(
        x, size: size, scales: nil, mode: mode, alignCorners: alignCorners, antialias: antialias)
}

/// interpolate with scale_factor (recompute_scale_factor unset), as PyTorch: the output extent
/// is floor(in · factor) and source positions use 1/factor, not in/out (they differ when
/// in · factor is not an integer, e.g. DINOv2's interpolate_offset).
public func interpolate(
    _ x: Tensor, scaleFactor: [Double], mode: InterpolationMode, alignCorners: Bool = false,
    antialias: Bool = false
) -> Tensor {
    let spatialRank = x.rank - 2
    let factors =
        scaleFactor.count == 1
        ? [Double](repeating: scaleFactor[0], count: Swift.max(spatialRank, 0)) : scaleFactor
    precondition(
        factors.count == spatialRank && factors.allSatisfy { $0 > 0 },
        "interpolate: scaleFactor \(scaleFactor) does not match the spatial axes of \(x.shape)")
    let size = (0..<spatialRank).map { Int((Double(x.shape[2 + $0]) * factors[$0]).rounded(.down)) }
    return resample(
        x, size: size, scales: factors, mode: mode, alignCorners: alignCorners,
        antialias: antialias)
}

/// Shared body of both interpolate forms; `scales` are the user's scale factors, if any.
private func resample(
    _ x: Tensor, size: [Int], scales: [Double]?, mode: InterpolationMode, alignCorners: Bool,
    antialias: Bool
) -> Tensor {
    let spatialRank = x.rank - 2
    precondition(
        spatialRank == 2 || spatialRank == 3,
        "interpolate: input must be [N, C, H, W] or [N, C, D, H, W], got \(x.shape)")
    precondition(
        size.count == spatialRank && size.allSatisfy { $0 > 0 },
        "interpolate: size \(size) does not match the spatial axes of \(x.shape)")
    switch mode {
    case .bilinear, .bicubic:
        precondition(spatialRank == 2, "interpolate: \(mode) needs [N, C, H, W], got \(x.shape)")
    case .trilinear:
        precondition(
            spatialRank == 3, "interpolate: trilinear needs [N, C, D, H, W], got \(x.shape)")
    case .nearest:
        precondition(!alignCorners, "interpolate: alignCorners is not defined for nearest")
    }
    precondition(
        !antialias || ((mode == .bilinear || mode == .bicubic) && !alignCorners),
        "interpolate: antialias needs bilinear or bicubic with alignCorners false")

    // One set of taps per spatial axis; axes whose taps are the identity are skipped.
    var plan: [(axis: Int, taps: AxisTaps)] = []
    for i in 0..<spatialRank {
        let (inSize, outSize, given) = (x.shape[2 + i], size[i], scales?[i])
        let taps: AxisTaps
        switch mode {
        case .nearest:
            taps = InterpolationKernels.nearest(inSize: inSize, outSize: outSize, given: given)
        case .bilinear, .trilinear:
            taps =
                antialias
                ? InterpolationKernels.antialiased(
                    inSize: inSize, outSize: outSize, cubic: false, given: given)
                : InterpolationKernels.linear(
                    inSize: inSize, outSize: outSize, alignCorners: alignCorners, given: given)
        case .bicubic:
            taps =
                antialias
                ? InterpolationKernels.antialiased(
                    inSize: inSize, outSize: outSize, cubic: true, given: given)
                : InterpolationKernels.cubic(
                    inSize: inSize, outSize: outSize, alignCorners: alignCorners, given: given)
        }
        if !taps.isIdentity { plan.append((2 + i, taps)) }
    }
    // Innermost axis first, as ATen's separable antialiased pass (horizontal, then vertical).
    plan.reverse()

    let xf = x.float().contiguous()  // [N, C, *in]
    if plan.isEmpty { return xf }
    var y = xf
    for step in plan { y = InterpolationKernels.apply(y, axis: step.axis, taps: step.taps) }
    // y: [N, C, *size]
    return Tensor.record("interpolate", output: y, inputs: [xf]) { gy in
        var g = gy.float().contiguous()
        for step in plan.reversed() {
            g = InterpolationKernels.applyTransposed(g, axis: step.axis, taps: step.taps)
        }
        return [g]
    }
}

/// Samples x [N, C, H, W] at grid [N, Ho, Wo, 2] (x, y in [-1, 1]) with bilinear weights and
/// zero padding, as torch.nn.functional.grid_sample(mode="bilinear", padding_mode="zeros").
public func gridSample(_ x: Tensor, grid: Tensor, alignCorners: Bool = false) -> Tensor {
    precondition(x.rank == 4, "gridSample: input must be [N, C, H, W], got \(x.shape)")
    precondition(
        grid.rank == 4 && grid.shape[0] == x.shape[0] && grid.shape[3] == 2,
        "gridSample: grid must be [N, Ho, Wo, 2] with N = \(x.shape[0]), got \(grid.shape)")
    let xf = x.float().contiguous()  // [N, C, H, W]
    let gf = grid.float().contiguous()  // [N, Ho, Wo, 2]
    let y = InterpolationKernels.gridSample(x: xf, grid: gf, alignCorners: alignCorners)
    // y: [N, C, Ho, Wo]
    return Tensor.record("gridSample", output: y, inputs: [xf, gf]) { gy in
        let (gx, gg) = InterpolationKernels.gridSampleBackward(
            x: xf, grid: gf, gy: gy.float().contiguous(), alignCorners: alignCorners)
        return [gx, gg]
    }
}
