// Dense convolutions (conv2d, conv3d, convTranspose2d), pixelShuffle3d, and their backward
// rules. Kernels (vol2col + SGEMM) live in Kernels/ConvolutionKernels.swift; all three convolutions
// share the same three primitives: forward, input gradient and weight gradient.

extension Tensor {
    /// Per-channel bias added in place to a contiguous [N, C, P] float buffer.
    fileprivate func addChannelBias(_ bias: Tensor, batch: Int, channels: Int, volume: Int) {
        let b = bias.float().contiguous()
        precondition(b.count == channels, "bias of shape \(bias.shape) for \(channels) channels")
        let pb = b.floats
        let py = floats
        Parallel.forRange(batch * channels, grain: 1) { r in
            for nc in r {
                let v = pb[nc % channels]
                let row = py + nc * volume
                for i in 0..<volume { row[i] += v }
            }
        }
    }

    /// Sum of a contiguous [N, C, P] gradient over N and P: the bias gradient [C].
    fileprivate func channelSums(batch: Int, channels: Int, volume: Int) -> Tensor {
        let out = Tensor(zeros: [channels])
        let pg = floats
        let po = out.floats
        Parallel.forRange(channels, grain: 1) { r in
            for c in r {
                var s: Float = 0
                for n in 0..<batch {
                    let row = pg + (n * channels + c) * volume
                    for i in 0..<volume { s += row[i] }
                }
                po[c] = s
            }
        }
        return out
    }
}

/// Expands a per-axis argument given as one value or one per spatial axis.
private func spatial(_ v: [Int], _ rank: Int, _ name: String) -> [Int] {
    if v.count == 1 { return [Int](repeating: v[0], count: rank) }
    precondition(v.count == rank, "\(name) \(v) needs 1 or \(rank) values")
    return v
}

/// Dense N-d convolution over 2 or 3 spatial axes (2-D runs as depth 1).
private func convolution(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int], padding: [Int], dilation: [Int],
    groups: Int, spatialRank: Int, name: String
) -> Tensor {
    let r = spatialRank
    precondition(x.rank == r + 2, "\(name): input must be [N, C, spatial x \(r)], got \(x.shape)")
    precondition(
        weight.rank == r + 2, "\(name): weight must have rank \(r + 2), got \(weight.shape)")
    let (n, c, o) = (x.shape[0], x.shape[1], weight.shape[0])
    precondition(
        groups >= 1 && c % groups == 0 && o % groups == 0 && weight.shape[1] == c / groups,
        "\(name): input \(x.shape), weight \(weight.shape), groups \(groups) do not agree")
    let lead = [Int](repeating: 1, count: 3 - r)
    let zero = [Int](repeating: 0, count: 3 - r)
    let g = ConvGeometry(
        batch: n, inChannels: c, outChannels: o, groups: groups,
        input: lead + Array(x.shape[2...]), kernel: lead + Array(weight.shape[2...]),
        stride: lead + spatial(stride, r, "stride"), padding: zero + spatial(padding, r, "padding"),
        dilation: lead + spatial(dilation, r, "dilation"))
    let outSpatial = Array(g.output.suffix(r))
    precondition(
        outSpatial.allSatisfy { $0 > 0 },
        "\(name): input \(x.shape) with kernel \(weight.shape) gives empty output \(outSpatial)")
    let xf = x.float().contiguous()  // [N, C, *in]
    let wf = weight.float().contiguous()  // [O, C/g, *k]
    let y = Tensor(empty: [n, o] + outSpatial)  // [N, O, *out]
    ConvKernels.forward(x: xf.floats, w: wf.floats, y: y.floats, g)
    if let bias { y.addChannelBias(bias, batch: n, channels: o, volume: g.outputVolume) }
    let inputs = [xf, wf] + (bias.map { [$0] } ?? [])
    return Tensor.record(name, output: y, inputs: inputs) { gy in
        let gyc = gy.float().contiguous()
        var grads: [Tensor?] = [nil, nil]
        if xf.requiresGrad {
            let gx = Tensor(empty: xf.shape)
            ConvKernels.inputGradient(gy: gyc.floats, w: wf.floats, gx: gx.floats, g)
            grads[0] = gx
        }
        if wf.requiresGrad {
            let gw = Tensor(empty: wf.shape)
            ConvKernels.weightGradient(x: xf.floats, gy: gyc.floats, gw: gw.floats, g)
            grads[1] = gw
        }
        if let bias {
            grads.append(
                bias.requiresGrad
                    ? gyc.channelSums(batch: n, channels: o, volume: g.outputVolume).reshape(
                        bias.shape)
                    : nil)
        }
        return grads
    }
}

/// 2-D convolution as torch.nn.functional.conv2d: x [N, C, H, W], weight [O, C/groups, kh, kw].
/// `stride`, `padding`, `dilation` take one value or one per axis.
public func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1], padding: [Int] = [0],
    dilation: [Int] = [1], groups: Int = 1
) -> Tensor {
    convolution(
        x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
        groups: groups, spatialRank: 2, name: "conv2d")
}

/// 2-D convolution with the same stride, padding and dilation on both axes.
public func conv2d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int, padding: Int,
    dilation: Int = 1, groups: Int = 1
) -> Tensor {
    conv2d(
        x, weight: weight, bias: bias, stride: [stride], padding: [padding], dilation: [dilation],
        groups: groups)
}

/// 3-D convolution as torch.nn.functional.conv3d: x [N, C, D, H, W], weight [O, C/groups, kd, kh, kw].
public func conv3d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1], padding: [Int] = [0],
    dilation: [Int] = [1], groups: Int = 1
) -> Tensor {
    convolution(
        x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
        groups: groups, spatialRank: 3, name: "conv3d")
}

/// 3-D convolution with the same stride, padding and dilation on all axes.
public func conv3d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int, padding: Int,
    dilation: Int = 1, groups: Int = 1
) -> Tensor {
    conv3d(
        x, weight: weight, bias: bias, stride: [stride], padding: [padding], dilation: [dilation],
        groups: groups)
}

/// Transposed 2-D convolution as torch.nn.functional.conv_transpose2d:
/// x [N, C, H, W], weight [C, O/groups, kh, kw] -> [N, O, Ho, Wo] with
/// Ho = (H - 1)·stride - 2·padding + dilation·(kh - 1) + outputPadding + 1.
public func convTranspose2d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1], padding: [Int] = [0],
    outputPadding: [Int] = [0], groups: Int = 1, dilation: [Int] = [1]
) -> Tensor {
    precondition(x.rank == 4, "convTranspose2d: input must be [N, C, H, W], got \(x.shape)")
    precondition(
        weight.rank == 4, "convTranspose2d: weight must be [C, O/g, kh, kw], got \(weight.shape)")
    let (n, c) = (x.shape[0], x.shape[1])
    precondition(
        weight.shape[0] == c && groups >= 1 && c % groups == 0,
        "convTranspose2d: input \(x.shape), weight \(weight.shape), groups \(groups) do not agree")
    let o = weight.shape[1] * groups
    let s = spatial(stride, 2, "stride")
    let p = spatial(padding, 2, "padding")
    let d = spatial(dilation, 2, "dilation")
    let op = spatial(outputPadding, 2, "outputPadding")
    let k = Array(weight.shape[2...])
    var outSpatial = [0, 0]
    for i in 0..<2 {
        let span: Int = d[i] * (k[i] - 1) + op[i] + 1
        outSpatial[i] = (x.shape[2 + i] - 1) * s[i] - 2 * p[i] + span
    }
    precondition(
        (0..<2).allSatisfy { op[$0] < Swift.max(s[$0], d[$0]) } && outSpatial.allSatisfy { $0 > 0 },
        "convTranspose2d: outputPadding \(op) must be < stride or dilation; output \(outSpatial)")
    // The transposed convolution is the input gradient of the convolution that maps its
    // output [N, O, Ho, Wo] back to its input [N, C, H, W] with the same weight [C, O/g, K].
    let g = ConvGeometry(
        batch: n, inChannels: o, outChannels: c, groups: groups, input: [1] + outSpatial,
        kernel: [1] + k, stride: [1] + s, padding: [0] + p, dilation: [1] + d)
    precondition(
        Array(g.output.suffix(2)) == Array(x.shape[2...]),
        "convTranspose2d: internal geometry mismatch \(g.output) vs \(x.shape)")
    let xf = x.float().contiguous()  // [N, C, H, W]
    let wf = weight.float().contiguous()  // [C, O/g, kh, kw]
    let y = Tensor(empty: [n, o] + outSpatial)  // [N, O, Ho, Wo]
    ConvKernels.inputGradient(gy: xf.floats, w: wf.floats, gx: y.floats, g)
    if let bias { y.addChannelBias(bias, batch: n, channels: o, volume: g.inputVolume) }
    let inputs = [xf, wf] + (bias.map { [$0] } ?? [])
    return Tensor.record("convTranspose2d", output: y, inputs: inputs) { gy in
        let gyc = gy.float().contiguous()
        var grads: [Tensor?] = [nil, nil]
        if xf.requiresGrad {
            let gx = Tensor(empty: xf.shape)
            ConvKernels.forward(x: gyc.floats, w: wf.floats, y: gx.floats, g)
            grads[0] = gx
        }
        if wf.requiresGrad {
            let gw = Tensor(empty: wf.shape)
            ConvKernels.weightGradient(x: gyc.floats, gy: xf.floats, gw: gw.floats, g)
            grads[1] = gw
        }
        if let bias {
            grads.append(
                bias.requiresGrad
                    ? gyc.channelSums(batch: n, channels: o, volume: g.inputVolume).reshape(
                        bias.shape)
                    : nil)
        }
        return grads
    }
}

/// Transposed 2-D convolution with the same stride and padding on both axes.
public func convTranspose2d(
    _ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int, padding: Int,
    outputPadding: Int = 0, groups: Int = 1, dilation: Int = 1
) -> Tensor {
    convTranspose2d(
        x, weight: weight, bias: bias, stride: [stride], padding: [padding],
        outputPadding: [outputPadding], groups: groups, dilation: [dilation])
}

/// TRELLIS's pixel_shuffle_3d: [N, C·r³, D, H, W] -> [N, C, D·r, H·r, W·r], where channel
/// c·r³ + i·r² + j·r + k lands on voxel (r·d + i, r·h + j, r·w + k). Same result as
/// reshape [N, C, r, r, r, D, H, W] · permute(0, 1, 5, 2, 6, 3, 7, 4) · reshape, in one pass.
public func pixelShuffle3d(_ x: Tensor, factor r: Int) -> Tensor {
    precondition(x.rank == 5, "pixelShuffle3d: input must be [N, C, D, H, W], got \(x.shape)")
    let (n, cr, d, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
    precondition(
        r >= 1 && cr % (r * r * r) == 0, "pixelShuffle3d: \(cr) channels not divisible by \(r)^3")
    let c = cr / (r * r * r)
    let xf = x.float().contiguous()  // [N, C·r³, D, H, W]
    let y = Tensor(empty: [n, c, d * r, h * r, w * r])  // [N, C, D·r, H·r, W·r]
    ConvKernels.pixelShuffle3d(
        shuffled: xf.floats, volume: y.floats, batch: n, channels: c, extent: [d, h, w],
        factor: r, inverse: false)
    return Tensor.record("pixelShuffle3d", output: y, inputs: [xf]) { gy in
        let g = gy.float().contiguous()
        let gx = Tensor(empty: [n, cr, d, h, w])
        ConvKernels.pixelShuffle3d(
            shuffled: gx.floats, volume: g.floats, batch: n, channels: c, extent: [d, h, w],
            factor: r, inverse: true)
        return [gx]
    }
}
