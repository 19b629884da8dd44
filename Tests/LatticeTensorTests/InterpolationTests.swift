// interpolate and gridSample: hand-computed values for each mode (PyTorch's formulas worked out
// on tiny inputs), the DINOv2 antialiased bicubic position-embedding fixture, and
// finite-difference gradients.
import Foundation
import LatticeTestSupport
import Testing

@testable import LatticeTensor

/// Minimal safetensors reader for F32 tensors (the shared reader belongs to another module):
/// 8-byte little-endian header length, JSON header, raw little-endian data.
private struct TinySafetensors {
    let header: [String: Any]
    let data: Data
    let dataStart: Int

    init(path: String) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
        let json = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + n)))
        header = json as? [String: Any] ?? [:]
        data = bytes
        dataStart = 8 + n
    }

    func tensor(_ name: String) -> Tensor? {
        guard let entry = header[name] as? [String: Any], entry["dtype"] as? String == "F32",
            let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int]
        else { return nil }
        let raw = data.subdata(in: (dataStart + offsets[0])..<(dataStart + offsets[1]))
        let values = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return Tensor(values, shape: shape)
    }
}

private func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
    return zip(a, b).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}

@Suite struct InterpolationTests {
    // Hand values below are exact in binary or rounded once; 1e-6 covers float rounding of
    // the weight arithmetic.
    @Test func nearestUsesFloorOfScaledIndex() {
        let x = Tensor([0, 1, 2, 3], shape: [1, 1, 2, 2])
        let up = interpolate(x, size: [4, 4], mode: .nearest)
        #expect(up.toFloats() == [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3])
        // 3 -> 2: scale 1.5, sources floor(0) = 0 and floor(1.5) = 1.
        let row = Tensor([5, 6, 7], shape: [1, 1, 1, 3])
        #expect(interpolate(row, size: [1, 2], mode: .nearest).toFloats() == [5, 6])
        // 2 -> 5 (not an exact doubling): scale 0.4, sources 0, 0, 0, 1, 1.
        let two = Tensor([1, 2], shape: [1, 1, 1, 1, 2])
        #expect(interpolate(two, size: [1, 1, 5], mode: .nearest).toFloats() == [1, 1, 1, 2, 2])
    }

    @Test func bilinearAndTrilinearKnownValues() {
        let x = Tensor([0, 1], shape: [1, 1, 1, 2])
        // align_corners false: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25 (upper tap clamped).
        let a = interpolate(x, size: [1, 4], mode: .bilinear)
        #expect(maxAbsDiff(a.toFloats(), [0, 0.25, 0.75, 1]) < 1e-6)
        let b = interpolate(x, size: [1, 4], mode: .bilinear, alignCorners: true)
        #expect(maxAbsDiff(b.toFloats(), [0, 1.0 / 3, 2.0 / 3, 1]) < 1e-6)
        // 2x2 -> 3x3 with corners aligned: the centre is the mean of the four corners.
        let sq = Tensor([0, 2, 4, 6], shape: [1, 1, 2, 2])
        let c = interpolate(sq, size: [3, 3], mode: .bilinear, alignCorners: true)
        #expect(maxAbsDiff(c.toFloats(), [0, 1, 2, 2, 3, 4, 4, 5, 6]) < 1e-6)
        // Trilinear on a 2x2x2 cube of corner values i*4 + j*2 + k: the 3x3x3 centre is 3.5.
        let cube = Tensor((0..<8).map(Float.init), shape: [1, 1, 2, 2, 2])
        let t = interpolate(cube, size: [3, 3, 3], mode: .trilinear, alignCorners: true)
        #expect(Swift.abs(t.toFloats()[13] - 3.5) < 1e-6)
        // Downsampling 4 -> 2 (align false): sources 0.5 and 2.5.
        let r = Tensor([0, 1, 2, 3], shape: [1, 1, 1, 1, 4])
        let d = interpolate(r, size: [1, 1, 2], mode: .trilinear)
        #expect(maxAbsDiff(d.toFloats(), [0.5, 2.5]) < 1e-6)
    }

    @Test func scaleFactorUsesInverseFactorForSourcePositions() {
        // 4 -> floor(4 · 1.3) = 5; sources (j + 0.5) / 1.3 - 0.5 (clamped at 0), not the
        // (j + 0.5) · 4/5 - 0.5 a size-specified resize would use. A ramp returns its source.
        let ramp = Tensor([0, 1, 2, 3], shape: [1, 1, 1, 4])
        let y = interpolate(ramp, scaleFactor: [1, 1.3], mode: .bilinear)
        #expect(y.shape == [1, 1, 1, 5])
        let expected = (0..<5).map { Swift.max(0, Float((Double($0) + 0.5) / 1.3 - 0.5)) }
        #expect(maxAbsDiff(y.toFloats(), expected) < 1e-6)
        let bySize = interpolate(ramp, size: [1, 5], mode: .bilinear)
        #expect(bySize.toFloats()[4] == 3)
    }

    @Test func bicubicKnownValues() {
        // Keys weights at t = 0.5 with a = -0.75: [-0.09375, 0.59375, 0.59375, -0.09375].
        // 4 -> 7 with align_corners: sources 0, 0.5, ..., 3 (indices clamped at the border).
        let x = Tensor([0, 0, 1, 0], shape: [1, 1, 1, 4])
        let y = interpolate(x, size: [1, 7], mode: .bicubic, alignCorners: true)
        #expect(maxAbsDiff(y.toFloats(), [0, -0.09375, 0, 0.59375, 1, 0.59375, 0]) < 1e-6)
    }

    @Test func antialiasedBicubicKnownValues() {
        // 4 -> 2: scale 2, support 4, filter a = -0.5 at distances (0.25, 0.25, 0.75, 1.25)
        // = (0.8671875, 0.8671875, 0.2265625, -0.0703125), normalised by 1.890625.
        let x = Tensor([1, 2, 3, 4], shape: [1, 1, 1, 4])
        let y = interpolate(x, size: [1, 2], mode: .bicubic, antialias: true)
        #expect(maxAbsDiff(y.toFloats(), [3.0 / 1.890625, 6.453125 / 1.890625]) < 1e-6)
        // Same-size axes are the identity.
        let z = Tensor((0..<6).map(Float.init), shape: [1, 1, 2, 3])
        #expect(
            interpolate(z, size: [2, 3], mode: .bicubic, antialias: true).toFloats() == z.toFloats()
        )
        // Upsampling 2 -> 4: support 2, filter at distances from centres 0.25 and 0.75, cut at
        // the border and renormalised: [-0.0703125 / 0.796875, 0.2265625 / 1.09375, ...].
        let ramp = Tensor([0, 1], shape: [1, 1, 1, 2])
        let up = interpolate(ramp, size: [1, 4], mode: .bicubic, antialias: true)
        let e0: Float = -0.0703125 / 0.796875
        let e1: Float = 0.2265625 / 1.09375
        #expect(maxAbsDiff(up.toFloats(), [e0, e1, 1 - e1, 1 - e0]) < 1e-6)
        // Antialiased upsampling keeps constants (weights are normalised).
        let ones = Tensor(full: [1, 1, 3, 3], value: 2)
        let u = interpolate(ones, size: [5, 7], mode: .bicubic, antialias: true)
        #expect(maxAbsDiff(u.toFloats(), [Float](repeating: 2, count: 35)) < 1e-6)
    }

    /// DINOv2's interpolate_pos_encoding (VGGT sizes): pos_embed patch grid 37x37 resized with
    /// F.interpolate(mode="bicubic", antialias=True, size=(H/14, W/14)) and the class token
    /// prepended. Tolerance 1e-5 absolute: the fixture's suggested bound for float32 (measured
    /// error is about 3e-7); the
    /// remaining difference is summation order in the two separable passes.
    @Test func dinov2PositionEmbeddingFixture() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(
                "Fixtures/dinov2__interpolate_pos_encoding_518.safetensors"
            ).path
        let file = try TinySafetensors(path: path)
        let pos = try #require(file.tensor("param.pos_embed"))  // [1, 1370, C]
        let dim = pos.shape[2]
        let cls = pos.slice(1, 0, 1)  // [1, 1, C]
        let grid = pos.slice(1, 1).reshape([1, 37, 37, dim]).permute([0, 3, 1, 2])  // [1, C, 37, 37]
        for (h, w) in [(294, 518), (518, 392), (350, 518), (518, 518)] {
            let expected = try #require(file.tensor("output.pos_\(h)x\(w)"))
            let (gh, gw) = (h / 14, w / 14)
            let resized = interpolate(grid, size: [gh, gw], mode: .bicubic, antialias: true)  // [1, C, gh, gw]
            let tokens = resized.permute([0, 2, 3, 1]).reshape([1, gh * gw, dim])  // [1, gh·gw, C]
            let out = Tensor.cat([cls, tokens], axis: 1)  // [1, 1 + gh·gw, C]
            #expect(out.shape == expected.shape)
            let err = maxAbsDiff(out.toFloats(), expected.toFloats())
            #expect(err < 1e-5, "pos_\(h)x\(w): max abs error \(err)")
        }
    }

    /// Direct (non-separable) 2-D evaluation of ATen's bilinear and bicubic upsampling, the
    /// naive twin of the separable tap kernels.
    private func direct2d(
        _ x: [Float], _ h: Int, _ w: Int, _ oh: Int, _ ow: Int, cubic: Bool, align: Bool
    ) -> [Float] {
        func scale(_ i: Int, _ o: Int) -> Float {
            align ? (o > 1 ? Float(i - 1) / Float(o - 1) : 0) : Float(i) / Float(o)
        }
        func taps(_ j: Int, _ i: Int, _ o: Int) -> [(Int, Float)] {
            let s = scale(i, o)
            var real = align ? s * Float(j) : s * (Float(j) + 0.5) - 0.5
            if !cubic {
                if i == o { return [(j, 1)] }
                real = Swift.max(real, 0)
            }
            let i0 = Swift.min(Int(real.rounded(.down)), i - 1)
            let t = Swift.min(Swift.max(real - Float(i0), 0), 1)
            if !cubic { return [(i0, 1 - t), (Swift.min(i0 + 1, i - 1), t)] }
            let a: Float = -0.75
            func c1(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
            func c2(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
            let wts = [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)]
            return (0..<4).map { (Swift.min(Swift.max(i0 - 1 + $0, 0), i - 1), wts[$0]) }
        }
        var y = [Float](repeating: 0, count: oh * ow)
        for r in 0..<oh {
            for c in 0..<ow {
                var s: Float = 0
                for (yi, wy) in taps(r, h, oh) {
                    for (xi, wx) in taps(c, w, ow) { s += wy * wx * x[yi * w + xi] }
                }
                y[r * ow + c] = s
            }
        }
        return y
    }

    // Tolerance 1e-5: the same weights summed in a different order (16 terms of |x| < 4).
    @Test func separableMatchesDirect2d() {
        var gen = RandomGenerator(seed: 3)
        for (h, w, oh, ow) in [(5, 6, 8, 4), (3, 9, 3, 5), (4, 4, 9, 2)] {
            let x = Tensor.randn([1, 1, h, w], generator: &gen)
            for cubic in [false, true] {
                for align in [false, true] {
                    let y = interpolate(
                        x, size: [oh, ow], mode: cubic ? .bicubic : .bilinear, alignCorners: align)
                    let expected = direct2d(x.toFloats(), h, w, oh, ow, cubic: cubic, align: align)
                    #expect(
                        maxAbsDiff(y.toFloats(), expected) < 1e-5,
                        "\(h)x\(w) -> \(oh)x\(ow) cubic \(cubic) align \(align)")
                }
            }
        }
    }

    @Test func interpolateGradients() {
        var gen = RandomGenerator(seed: 1)
        let x = Tensor.randn([1, 2, 4, 3], generator: &gen)
        // Transposed input: the op sees [1, 2, 3, 4] non-contiguous.
        for (mode, align, aa) in [
            (InterpolationMode.nearest, false, false), (.bilinear, false, false),
            (.bilinear, true, false),
            (.bicubic, false, false), (.bicubic, true, false), (.bicubic, false, true),
            (.bilinear, false, true),
        ] {
            gradCheck([x]) { v in
                interpolate(
                    v[0].transpose(2, 3), size: [5, 2], mode: mode, alignCorners: align,
                    antialias: aa)
            }
            gradCheck([x]) { v in
                interpolate(v[0], size: [2, 7], mode: mode, alignCorners: align, antialias: aa)
            }
        }
        let v3 = Tensor.randn([1, 1, 2, 3, 2], generator: &gen)
        gradCheck([v3]) { v in interpolate(v[0], size: [3, 2, 4], mode: .trilinear) }
        gradCheck([v3]) { v in interpolate(v[0], size: [4, 5, 1], mode: .nearest) }
        gradCheck([v3]) { v in
            interpolate(v[0], size: [3, 3, 3], mode: .trilinear, alignCorners: true)
        }
    }

    @Test func gridSampleKnownValues() {
        let x = Tensor([1, 2, 3, 4], shape: [1, 1, 2, 2])
        // (0, 0) is the image centre: pixel coordinate (0.5, 0.5), the mean 2.5.
        // (-1, -1) is the outer corner (-0.5, -0.5): only pixel (0, 0) is inside, weight 0.25.
        // (1, -1) -> (1.5, -0.5): only pixel (x 1, y 0) inside, weight 0.25.
        let grid = Tensor([0, 0, -1, -1, 1, -1], shape: [1, 1, 3, 2])
        let y = gridSample(x, grid: grid)
        #expect(maxAbsDiff(y.toFloats(), [2.5, 0.25, 0.5]) < 1e-6)
        let ya = gridSample(x, grid: grid, alignCorners: true)
        #expect(maxAbsDiff(ya.toFloats(), [2.5, 1, 2]) < 1e-6)
    }

    @Test func gridSampleGradients() {
        var gen = RandomGenerator(seed: 2)
        let (h, w) = (3, 4)
        let x = Tensor.randn([2, 2, h, w], generator: &gen)
        // Sample points with fractional pixel parts in [0.2, 0.8] so that finite differences
        // never cross a kink of the piecewise-bilinear map; some lie half outside the image.
        let u = Tensor.rand([2 * 5 * 2], low: 0.2, high: 0.8, generator: &gen).toFloats()
        var coords: [Float] = []
        for i in 0..<(2 * 5) {
            let px = Float(i % (w + 1)) - 1 + u[2 * i]  // -1 ... w - 1
            let py = Float(i % (h + 1)) - 1 + u[2 * i + 1]
            coords += [(2 * px + 1) / Float(w) - 1, (2 * py + 1) / Float(h) - 1]
        }
        let grid = Tensor(coords, shape: [2, 5, 1, 2])
        gradCheck([x, grid], h: 1e-3) { v in
            gridSample(v[0].transpose(2, 3).transpose(2, 3), grid: v[1])
        }
        gradCheck([x.transpose(2, 3).contiguous(), grid], h: 1e-3) { v in
            gridSample(v[0].transpose(2, 3), grid: v[1])
        }
    }
}
