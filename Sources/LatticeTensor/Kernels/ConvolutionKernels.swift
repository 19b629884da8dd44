// Raw dense convolution kernels (no autodiff): vol2col + SGEMM forward, input and weight
// gradients, and the direct-loop naive twins the tests compare them with. 2-D convolutions run
// as 3-D ones with depth 1; transposed convolutions reuse the input-gradient path.
import CLatticeKernels

/// Shape of one dense convolution: input [N, C, D, H, W], weight [O, C/groups, kd, kh, kw],
/// output [N, O, Do, Ho, Wo].
struct ConvGeometry {
    var batch: Int
    var inChannels: Int
    var outChannels: Int
    var groups: Int
    /// Input extent [D, H, W].
    var input: [Int]
    /// Kernel extent [kd, kh, kw].
    var kernel: [Int]
    var stride: [Int]
    var padding: [Int]
    var dilation: [Int]

    /// Output extent [Do, Ho, Wo] (floor division, as PyTorch).
    var output: [Int] {
        (0..<3).map { i in
            (input[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) / stride[i] + 1
        }
    }
    var inputVolume: Int { input.reduce(1, *) }
    var outputVolume: Int { output.reduce(1, *) }
    var kernelVolume: Int { kernel.reduce(1, *) }
    /// Input channels per group.
    var groupIn: Int { inChannels / groups }
    /// Output channels per group.
    var groupOut: Int { outChannels / groups }
    /// Rows of one group's patch matrix: C/g · kd·kh·kw.
    var patchRows: Int { groupIn * kernelVolume }

    /// The C description of one group's volume (channels `groupIn`).
    var cGeometry: lt_conv_geom {
        let o = output
        return lt_conv_geom(
            c: Int64(groupIn), d: Int64(input[0]), h: Int64(input[1]), w: Int64(input[2]),
            kd: Int64(kernel[0]), kh: Int64(kernel[1]), kw: Int64(kernel[2]),
            sd: Int64(stride[0]), sh: Int64(stride[1]), sw: Int64(stride[2]),
            pd: Int64(padding[0]), ph: Int64(padding[1]), pw: Int64(padding[2]),
            dd: Int64(dilation[0]), dh: Int64(dilation[1]), dw: Int64(dilation[2]),
            od: Int64(o[0]), oh: Int64(o[1]), ow: Int64(o[2]))
    }

    /// Output columns per patch tile so that one tile stays near `bytes` of scratch.
    func tileColumns(bytes: Int) -> Int {
        let columns = Swift.max(128, bytes / Swift.max(1, patchRows * 4))
        return Swift.min(outputVolume, columns)
    }
}

/// Dense convolution kernels on contiguous float32 buffers.
enum ConvKernels {
    /// Scratch budget of one patch tile. Bounds the extra memory of a convolution to about
    /// `threadCount` tiles regardless of the volume size.
    static let tileBytes = 4 << 20

    /// y [N, O, P] = conv(x [N, C, D, H, W], w [O, C/g, K]), without bias.
    static func forward(
        x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
        _ g: ConvGeometry
    ) {
        var cg = g.cGeometry
        let p = g.outputVolume
        let rows = g.patchRows
        // Tiles within the scratch budget, their count rounded up to a multiple of the thread
        // count (over all images and groups) so that workers get equal shares.
        let threads = Parallel.threadCount
        let images = g.batch * g.groups
        let maxTile = g.tileColumns(bytes: tileBytes)
        var tiles = (p + maxTile - 1) / maxTile
        let rounded = ((images * tiles + threads - 1) / threads) * threads
        tiles = Swift.max(tiles, Swift.min((rounded + images - 1) / images, (p + 31) / 32))
        let tile = (p + tiles - 1) / tiles
        tiles = (p + tile - 1) / tile
        let tasks = images * tiles
        let workers = Swift.min(Parallel.threadCount, tasks)
        Parallel.run(chunks: workers) { worker in
            let scratch = Storage(byteCount: rows * tile * 4)
            defer { withExtendedLifetime(scratch) {} }
            let col = scratch.data.assumingMemoryBound(to: Float.self)
            var task = worker
            while task < tasks {
                let t = task % tiles
                let ng = task / tiles
                let (n, gi) = (ng / g.groups, ng % g.groups)
                let p0 = t * tile
                let p1 = Swift.min(p, p0 + tile)
                let xg = x + (n * g.inChannels + gi * g.groupIn) * g.inputVolume
                lt_vol2col(xg, &cg, Int64(p0), Int64(p1), col)
                let yg = y + (n * g.outChannels + gi * g.groupOut) * p + p0
                Gemm.sgemmSerial(
                    m: g.groupOut, n: p1 - p0, k: rows, a: w + gi * g.groupOut * rows, lda: rows,
                    b: col, ldb: p1 - p0, c: yg, ldc: p)
                task += workers
            }
        }
    }

    /// gx [N, C, D, H, W] = conv input gradient of gy [N, O, P] through w [O, C/g, K].
    /// Also the forward pass of a transposed convolution. gx is overwritten.
    static func inputGradient(
        gy: UnsafePointer<Float>, w: UnsafePointer<Float>, gx: UnsafeMutablePointer<Float>,
        _ g: ConvGeometry
    ) {
        gx.initialize(repeating: 0, count: g.batch * g.inChannels * g.inputVolume)
        let p = g.outputVolume
        let rows = g.patchRows
        let tile = g.tileColumns(bytes: 4 * tileBytes)
        // Scratch as Storage, so MemoryStats (and benchmarks' extra-memory numbers) see it.
        let scratch = Storage(byteCount: rows * tile * 4)
        defer { withExtendedLifetime(scratch) {} }
        let col = scratch.data.assumingMemoryBound(to: Float.self)
        // Tiles overlap in the input, so they run in order; the GEMM and the channel-disjoint
        // scatter are what run in parallel.
        for n in 0..<g.batch {
            for gi in 0..<g.groups {
                var p0 = 0
                while p0 < p {
                    let p1 = Swift.min(p, p0 + tile)
                    let len = p1 - p0
                    Gemm.sgemm(
                        transA: true, m: rows, n: len, k: g.groupOut,
                        a: w + gi * g.groupOut * rows, lda: rows,
                        b: gy + (n * g.outChannels + gi * g.groupOut) * p + p0, ldb: p,
                        c: col, ldc: len)
                    let xg = gx + (n * g.inChannels + gi * g.groupIn) * g.inputVolume
                    Parallel.forRange(g.groupIn, grain: 1) { cr in
                        var cg = g.cGeometry
                        cg.c = Int64(cr.count)
                        lt_col2vol(
                            col + cr.lowerBound * g.kernelVolume * len, &cg, Int64(p0), Int64(p1),
                            xg + cr.lowerBound * g.inputVolume)
                    }
                    p0 = p1
                }
            }
        }
    }

    /// gw [O, C/g, K] = weight gradient from x [N, C, D, H, W] and gy [N, O, P]. gw is overwritten.
    static func weightGradient(
        x: UnsafePointer<Float>, gy: UnsafePointer<Float>, gw: UnsafeMutablePointer<Float>,
        _ g: ConvGeometry
    ) {
        let p = g.outputVolume
        let rows = g.patchRows
        let tile = g.tileColumns(bytes: 4 * tileBytes)
        // Scratch as Storage, so MemoryStats (and benchmarks' extra-memory numbers) see it.
        let scratch = Storage(byteCount: rows * tile * 4)
        defer { withExtendedLifetime(scratch) {} }
        let col = scratch.data.assumingMemoryBound(to: Float.self)
        gw.initialize(repeating: 0, count: g.outChannels * rows)
        for n in 0..<g.batch {
            for gi in 0..<g.groups {
                var p0 = 0
                while p0 < p {
                    let p1 = Swift.min(p, p0 + tile)
                    let len = p1 - p0
                    let xg = x + (n * g.inChannels + gi * g.groupIn) * g.inputVolume
                    Parallel.forRange(g.groupIn, grain: 1) { cr in
                        var cg = g.cGeometry
                        cg.c = Int64(cr.count)
                        lt_vol2col(
                            xg + cr.lowerBound * g.inputVolume, &cg, Int64(p0), Int64(p1),
                            col + cr.lowerBound * g.kernelVolume * len)
                    }
                    Gemm.sgemm(
                        transB: true, m: g.groupOut, n: rows, k: len,
                        a: gy + (n * g.outChannels + gi * g.groupOut) * p + p0, lda: p,
                        b: col, ldb: len, beta: 1, c: gw + gi * g.groupOut * rows, ldc: rows)
                    p0 = p1
                }
            }
        }
    }

    /// TRELLIS pixel_shuffle_3d on contiguous buffers: moves voxel (d, h, w) of channel
    /// c·r³ + i·r² + j·r + k of `shuffled` [N, C·r³, D, H, W] to (r·d + i, r·h + j, r·w + k) of
    /// channel c in `volume` [N, C, D·r, H·r, W·r]. `inverse` copies the other way (its backward).
    static func pixelShuffle3d(
        shuffled: UnsafeMutablePointer<Float>, volume: UnsafeMutablePointer<Float>,
        batch: Int, channels c: Int, extent: [Int], factor r: Int, inverse: Bool
    ) {
        let (d, h, w) = (extent[0], extent[1], extent[2])
        let r3 = r * r * r
        let rows = batch * c * d * r * h * r
        Parallel.forRange(rows, grain: Swift.max(1, 16384 / (w * r))) { range in
            for row in range {
                let oh = row % (h * r)
                let od = (row / (h * r)) % (d * r)
                let bc = row / (h * r * d * r)  // b·C + c
                let (d0, i, h0, j) = (od / r, od % r, oh / r, oh % r)
                let out = volume + row * w * r
                for k in 0..<r {
                    let channel = bc * r3 + i * r * r + j * r + k
                    let src = shuffled + ((channel * d + d0) * h + h0) * w
                    if inverse {
                        for w0 in 0..<w { src[w0] = out[w0 * r + k] }
                    } else {
                        for w0 in 0..<w { out[w0 * r + k] = src[w0] }
                    }
                }
            }
        }
    }

    // MARK: Naive twins (direct loops, for tests)

    /// Visits every (output, input, weight) index triple of the convolution in a fixed order:
    /// output voxel, then input channel, then kernel tap (taps that fall in padding skipped).
    /// Output indices are into [N, O, *out], input into [N, C, *in], weight into [O, C/g, *k].
    static func naiveTaps(_ g: ConvGeometry, _ body: (Int, Int, Int) -> Void) {
        let o = g.output
        for n in 0..<g.batch {
            for oc in 0..<g.outChannels {
                let gi = oc / g.groupOut
                for od in 0..<o[0] {
                    for oh in 0..<o[1] {
                        for ow in 0..<o[2] {
                            let yi =
                                ((n * g.outChannels + oc) * o[0] + od) * o[1] * o[2] + oh * o[2]
                                + ow
                            for ci in 0..<g.groupIn {
                                let c = gi * g.groupIn + ci
                                for a in 0..<g.kernel[0] {
                                    let id = od * g.stride[0] - g.padding[0] + a * g.dilation[0]
                                    if id < 0 || id >= g.input[0] { continue }
                                    for b in 0..<g.kernel[1] {
                                        let ih = oh * g.stride[1] - g.padding[1] + b * g.dilation[1]
                                        if ih < 0 || ih >= g.input[1] { continue }
                                        for e in 0..<g.kernel[2] {
                                            let iw =
                                                ow * g.stride[2] - g.padding[2] + e * g.dilation[2]
                                            if iw < 0 || iw >= g.input[2] { continue }
                                            let xi =
                                                (((n * g.inChannels + c) * g.input[0] + id)
                                                    * g.input[1] + ih) * g.input[2] + iw
                                            let wi =
                                                ((oc * g.groupIn + ci) * g.kernel[0] + a)
                                                * g.kernel[1] * g.kernel[2] + b * g.kernel[2] + e
                                            body(yi, xi, wi)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Direct-loop convolution: y [N, O, P] (no bias).
    static func naiveForward(x: [Float], w: [Float], _ g: ConvGeometry) -> [Float] {
        var y = [Float](repeating: 0, count: g.batch * g.outChannels * g.outputVolume)
        naiveTaps(g) { yi, xi, wi in y[yi] += x[xi] * w[wi] }
        return y
    }

    /// Direct-loop transposed convolution: scatters each input voxel of x [N, O, Do, Ho, Wo]
    /// through w [O, C/g, K] into an output of the geometry's input shape [N, C, D, H, W].
    static func naiveTransposed(x: [Float], w: [Float], _ g: ConvGeometry) -> [Float] {
        var y = [Float](repeating: 0, count: g.batch * g.inChannels * g.inputVolume)
        naiveTaps(g) { yo, yi, wi in y[yi] += x[yo] * w[wi] }
        return y
    }
}
