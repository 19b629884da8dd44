// Dense convolutions and pixelShuffle3d: vol2col+GEMM kernels against direct-loop twins,
// finite-difference gradients, and the TRELLIS channel-to-voxel mapping.
import LatticeTestSupport
import Testing

@testable import LatticeTensor

/// Largest absolute difference between two equally long arrays.
private func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
    return zip(a, b).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}

/// Direct transposed convolution with torch.nn.functional.conv_transpose2d's definition:
/// y[n, g·O/g + o, h·s - p + a·d, w·s - p + b·d] += x[n, c, h, w] · W[c, o, a, b], c in group g.
private func naiveConvTranspose2d(
    x: Tensor, w: Tensor, stride s: Int, padding p: Int, outputPadding op: Int, groups: Int,
    dilation d: Int
) -> (values: [Float], shape: [Int]) {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (og, kh, kw) = (w.shape[1], w.shape[2], w.shape[3])
    let o = og * groups
    let ho = (h - 1) * s - 2 * p + d * (kh - 1) + op + 1
    let wo = (wd - 1) * s - 2 * p + d * (kw - 1) + op + 1
    let xv = x.toFloats()
    let wv = w.toFloats()
    var y = [Float](repeating: 0, count: n * o * ho * wo)
    for b in 0..<n {
        for ci in 0..<c {
            let g = ci / (c / groups)
            for ih in 0..<h {
                for iw in 0..<wd {
                    let v = xv[((b * c + ci) * h + ih) * wd + iw]
                    for oc in 0..<og {
                        for a in 0..<kh {
                            for e in 0..<kw {
                                let yh = ih * s - p + a * d
                                let yw = iw * s - p + e * d
                                if yh < 0 || yh >= ho || yw < 0 || yw >= wo { continue }
                                let wi = ((ci * og + oc) * kh + a) * kw + e
                                y[((b * o + g * og + oc) * ho + yh) * wo + yw] += v * wv[wi]
                            }
                        }
                    }
                }
            }
        }
    }
    return (y, [n, o, ho, wo])
}

@Suite struct ConvolutionTests {
    struct Case2d: Sendable, CustomStringConvertible {
        var n, c, o, h, w, k, stride, padding, dilation, groups: Int
        var description: String {
            "N\(n) C\(c) O\(o) \(h)x\(w) k\(k) s\(stride) p\(padding) d\(dilation) g\(groups)"
        }
    }

    static let cases2d: [Case2d] = [
        Case2d(n: 2, c: 3, o: 4, h: 7, w: 6, k: 3, stride: 1, padding: 1, dilation: 1, groups: 1),
        Case2d(n: 1, c: 4, o: 6, h: 9, w: 8, k: 3, stride: 2, padding: 0, dilation: 1, groups: 2),
        Case2d(n: 1, c: 2, o: 3, h: 8, w: 9, k: 2, stride: 1, padding: 2, dilation: 2, groups: 1),
        Case2d(n: 2, c: 6, o: 6, h: 5, w: 7, k: 3, stride: 3, padding: 1, dilation: 1, groups: 6),
    ]

    // Tolerance: both sides sum at most C·k² ≈ 50 products of N(0,1) values in float32 in
    // different orders; rounding differences stay below 1e-5·(sum of |terms|) ≈ 1e-4.
    @Test(arguments: cases2d)
    func conv2dMatchesDirectLoops(_ t: Case2d) {
        var gen = RandomGenerator(seed: 3)
        let x = Tensor.randn([t.n, t.c, t.h, t.w], generator: &gen)
        let w = Tensor.randn([t.o, t.c / t.groups, t.k, t.k], generator: &gen)
        let b = Tensor.randn([t.o], generator: &gen)
        let y = conv2d(
            x, weight: w, bias: b, stride: t.stride, padding: t.padding, dilation: t.dilation,
            groups: t.groups)
        let g = ConvGeometry(
            batch: t.n, inChannels: t.c, outChannels: t.o, groups: t.groups, input: [1, t.h, t.w],
            kernel: [1, t.k, t.k], stride: [1, t.stride, t.stride],
            padding: [0, t.padding, t.padding], dilation: [1, t.dilation, t.dilation])
        #expect(y.shape == [t.n, t.o] + Array(g.output.suffix(2)))
        var expected = ConvKernels.naiveForward(x: x.toFloats(), w: w.toFloats(), g)
        let bv = b.toFloats()
        for i in expected.indices { expected[i] += bv[(i / g.outputVolume) % t.o] }
        #expect(maxAbsDiff(y.toFloats(), expected) < 1e-4)
    }

    // Tolerance as above (sums of ≤ 3·27 products).
    @Test func conv3dMatchesDirectLoops() {
        var gen = RandomGenerator(seed: 4)
        for (stride, padding) in [(1, 1), (2, 0), (2, 1)] {
            let x = Tensor.randn([2, 3, 5, 6, 7], generator: &gen)
            let w = Tensor.randn([4, 3, 3, 3, 3], generator: &gen)
            let y = conv3d(x, weight: w, stride: stride, padding: padding)
            let g = ConvGeometry(
                batch: 2, inChannels: 3, outChannels: 4, groups: 1, input: [5, 6, 7],
                kernel: [3, 3, 3], stride: [stride, stride, stride],
                padding: [padding, padding, padding], dilation: [1, 1, 1])
            #expect(y.shape == [2, 4] + g.output)
            let expected = ConvKernels.naiveForward(x: x.toFloats(), w: w.toFloats(), g)
            #expect(maxAbsDiff(y.toFloats(), expected) < 1e-4)
        }
    }

    // Several tiles and threads: a volume large enough that the forward pass splits the
    // output columns across workers. Tolerance: sums of 8·27 = 216 products.
    @Test func conv3dTiledMatchesDirectLoops() {
        var gen = RandomGenerator(seed: 5)
        let x = Tensor.randn([1, 8, 12, 12, 12], generator: &gen)
        let w = Tensor.randn([5, 8, 3, 3, 3], generator: &gen)
        let y = conv3d(x, weight: w, stride: 1, padding: 1)
        let g = ConvGeometry(
            batch: 1, inChannels: 8, outChannels: 5, groups: 1, input: [12, 12, 12],
            kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1], dilation: [1, 1, 1])
        let expected = ConvKernels.naiveForward(x: x.toFloats(), w: w.toFloats(), g)
        #expect(maxAbsDiff(y.toFloats(), expected) < 2e-4)
        // Half-precision weights are converted on use.
        let yh = conv3d(x, weight: w.to(.float16), stride: 1, padding: 1)
        let expectedH = ConvKernels.naiveForward(
            x: x.toFloats(), w: w.to(.float16).toFloats(), g)
        #expect(maxAbsDiff(yh.toFloats(), expectedH) < 2e-4)
    }

    // Tolerance: sums of ≤ C·k² ≈ 30 products in different orders.
    @Test func convTranspose2dMatchesDirectLoops() {
        var gen = RandomGenerator(seed: 6)
        let configs: [(s: Int, p: Int, op: Int, g: Int, d: Int)] = [
            (1, 0, 0, 1, 1), (2, 1, 1, 1, 1), (2, 0, 0, 2, 1), (3, 1, 2, 1, 2), (1, 1, 0, 1, 2),
        ]
        for cfg in configs {
            let x = Tensor.randn([2, 4, 4, 5], generator: &gen)
            let w = Tensor.randn([4, 3, 3, 2], generator: &gen)
            let b = Tensor.randn([3 * cfg.g], generator: &gen)
            let y = convTranspose2d(
                x, weight: w, bias: b, stride: cfg.s, padding: cfg.p, outputPadding: cfg.op,
                groups: cfg.g, dilation: cfg.d)
            var (expected, shape) = naiveConvTranspose2d(
                x: x, w: w, stride: cfg.s, padding: cfg.p, outputPadding: cfg.op, groups: cfg.g,
                dilation: cfg.d)
            let plane = shape[2] * shape[3]
            let bv = b.toFloats()
            for i in expected.indices { expected[i] += bv[(i / plane) % shape[1]] }
            #expect(y.shape == shape, "config \(cfg)")
            #expect(maxAbsDiff(y.toFloats(), expected) < 1e-4, "config \(cfg)")
        }
    }

    @Test func conv2dGradientsWithStrideDilationGroups() {
        var gen = RandomGenerator(seed: 7)
        // x is stored [N, C, W, H] and transposed, so the op sees a non-contiguous input.
        let xt = Tensor.randn([1, 4, 6, 5], generator: &gen)
        let w = Tensor.randn([6, 2, 3, 2], generator: &gen)
        let b = Tensor.randn([6], generator: &gen)
        gradCheck([xt, w, b]) { v in
            conv2d(
                v[0].transpose(2, 3), weight: v[1], bias: v[2], stride: [2, 1], padding: [1, 0],
                dilation: [1, 2], groups: 2)
        }
    }

    @Test func conv3dGradients() {
        var gen = RandomGenerator(seed: 8)
        let x = Tensor.randn([2, 2, 4, 3, 4], generator: &gen)
        let w = Tensor.randn([3, 2, 3, 3, 2], generator: &gen)
        let b = Tensor.randn([3], generator: &gen)
        gradCheck([x, w, b]) { v in
            conv3d(v[0], weight: v[1], bias: v[2], stride: [1, 2, 1], padding: [1])
        }
        // Weight passed as a permuted (non-contiguous) view.
        let wp = Tensor.randn([2, 3, 3, 3, 3], generator: &gen)
        gradCheck([x, wp]) { v in
            conv3d(v[0], weight: v[1].transpose(0, 1), stride: 2, padding: 1)
        }
    }

    @Test func convTranspose2dGradients() {
        var gen = RandomGenerator(seed: 9)
        let x = Tensor.randn([2, 4, 3, 3], generator: &gen)
        let w = Tensor.randn([4, 2, 3, 3], generator: &gen)
        let b = Tensor.randn([4], generator: &gen)
        gradCheck([x, w, b]) { v in
            convTranspose2d(
                v[0], weight: v[1], bias: v[2], stride: 2, padding: 1, outputPadding: 1, groups: 2)
        }
        let xt = Tensor.randn([1, 2, 4, 3], generator: &gen)
        let w2 = Tensor.randn([2, 3, 2, 2], generator: &gen)
        gradCheck([xt, w2]) { v in
            convTranspose2d(v[0].transpose(2, 3), weight: v[1], stride: [1, 2], dilation: [2, 1])
        }
    }

    @Test func pixelShuffle3dPlacesChannelsAsTrellis() {
        // Value encodes (channel, d, h, w) of the input so every output voxel names its source.
        let (c, r, d, h, w) = (2, 2, 2, 3, 2)
        let cr = c * r * r * r
        var values: [Float] = []
        for ch in 0..<cr {
            for z in 0..<d {
                for y in 0..<h {
                    for x in 0..<w { values.append(Float(ch * 1000 + z * 100 + y * 10 + x)) }
                }
            }
        }
        let input = Tensor(values, shape: [1, cr, d, h, w])
        let out = pixelShuffle3d(input, factor: r)
        #expect(out.shape == [1, c, d * r, h * r, w * r])
        let o = out.toFloats()
        for ch in 0..<c {
            for z in 0..<d {
                for y in 0..<h {
                    for x in 0..<w {
                        for i in 0..<r {
                            for j in 0..<r {
                                for k in 0..<r {
                                    let src = ch * 8 + i * 4 + j * 2 + k
                                    let expected = Float(src * 1000 + z * 100 + y * 10 + x)
                                    let at =
                                        ((ch * d * r + (r * z + i)) * h * r + (r * y + j)) * w * r
                                        + (r * x + k)
                                    #expect(o[at] == expected)
                                }
                            }
                        }
                    }
                }
            }
        }
        var gen = RandomGenerator(seed: 10)
        gradCheck([Tensor.randn([1, 16, 1, 2, 1], generator: &gen)]) { v in
            pixelShuffle3d(v[0], factor: 2)
        }
        // The one-pass kernel equals the upstream reshape/permute definition (factor 3 too).
        for (n, c, r) in [(2, 2, 2), (1, 1, 3)] {
            let x = Tensor.randn([n, c * r * r * r, 2, 3, 2], generator: &gen)
            let viaViews = x.reshape([n, c, r, r, r, 2, 3, 2]).permute([0, 1, 5, 2, 6, 3, 7, 4])
                .reshape([n, c, 2 * r, 3 * r, 2 * r])
            #expect(pixelShuffle3d(x, factor: r).toFloats() == viaViews.toFloats())
        }
    }
}
