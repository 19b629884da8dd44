// Resizing against Pillow's own outputs (Tests/Fixtures/io/resize_*; see README.md there):
// 8-bit RGBA must match bit for bit, the float ("F" mode) path to float32 rounding. Plus crop,
// pad, premultiply, compositing and the alpha bounding box.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeTensor
import Testing

@Suite struct ImageOpsTests {
    @Test(arguments: ResampleFilter.allCases)
    func uint8ResizeMatchesPillowExactly(filter: ResampleFilter) throws {
        let src = try PNG.read(IOFixtures.url("src_rgba.png"))
        for (name, w, h) in [("down", 37, 29), ("up", 90, 70)] {
            let want = try PNG.read(IOFixtures.url("resize_\(filter.rawValue)_\(name).png"))
            let got = ImageOps.resize(src, width: w, height: h, filter: filter)
            var maxDiff = 0
            var mismatches = 0
            for (a, b) in zip(got.samples, want.samples) where a != b {
                maxDiff = max(maxDiff, abs(Int(a) - Int(b)))
                mismatches += 1
            }
            // Pillow's 8-bit path is integer arithmetic on fixed-point weights: exact match.
            #expect(
                mismatches == 0, "\(filter) \(name): \(mismatches) samples differ, max \(maxDiff)")
        }
    }

    @Test(arguments: ResampleFilter.allCases)
    func floatResizeMatchesPillowModeF(filter: ResampleFilter) throws {
        let src = try PNG.read(IOFixtures.url("src_rgba.png"))
        let red = RasterImage(
            width: src.width, height: src.height, channels: 1,
            pixels: stride(from: 0, to: src.samples.count, by: 4).map {
                Float(src.samples[$0]) / 255
            })
        let raw = try IOFixtures.bytes("resize_\(filter.rawValue)_down.f32")
        let want = (0..<(raw.count / 4)).map { i in
            Float(
                bitPattern: UInt32(raw[4 * i]) | UInt32(raw[4 * i + 1]) << 8 | UInt32(
                    raw[4 * i + 2]) << 16 | UInt32(raw[4 * i + 3]) << 24)
        }
        let got = ImageOps.resize(red, width: 37, height: 29, filter: filter)
        let err = zip(got.pixels, want).map { abs($0 - $1) }.max() ?? 1
        // Same double-precision sums with float32 storage between passes: ~1 ulp.
        #expect(err < 1e-6, "\(filter): max abs error \(err)")
    }

    @Test func cropPadCompositeAndBoundingBox() throws {
        var img = RasterImage(width: 6, height: 5, channels: 4)
        for y in 1...3 { for x in 2...4 { img[x, y, 3] = 1; img[x, y, 0] = 0.5 } }
        img[0, 0, 3] = 0.5
        let box = try #require(ImageOps.alphaBoundingBox(img, threshold: 0.8))
        #expect(box.minX == 2 && box.minY == 1 && box.maxX == 4 && box.maxY == 3)
        let c = ImageOps.crop(img, x0: 1, y0: -1, x1: 5, y1: 2)
        #expect(c.width == 4 && c.height == 3 && c[1, 2, 3] == 1 && c[0, 0, 3] == 0)
        let p = ImageOps.padToSquare(img, value: [1])
        #expect(p.width == 6 && p.height == 6 && p[0, 5, 0] == 1 && p[2, 1, 3] == 1)
        let over = ImageOps.composite(img, over: [1, 1, 1])
        #expect(over.channels == 3 && over[2, 1, 0] == 0.5 && over[0, 4, 1] == 1)
        #expect(ImageOps.premultiplyAlpha(img)[0, 0, 0] == 0)
        let pixelCrop = ImageOps.crop(PixelImage(img), x0: 2, y0: 1, x1: 5, y1: 4)
        #expect(
            pixelCrop.samples.enumerated().allSatisfy { $0.offset % 4 != 3 || $0.element == 255 })
    }
}

@Suite struct ImageThroughputTests {
    /// TRELLIS preprocessing size: a 1024² RGBA crop to 518² with Lanczos, the 8-bit path.
    @Test func trellisResizeAndTextureCodecsAreFast() throws {
        var rng = TestRNG(11)
        let n = 1024
        let samples = (0..<(n * n * 4)).map { i in
            UInt16((i / 4 % n + i / (4 * n)) % 256 ^ (rng.int(8)))
        }
        let img = PixelImage(width: n, height: n, channels: 4, samples: samples)
        let t0 = Date()
        let small = ImageOps.resize(img, width: 518, height: 518, filter: .lanczos)
        let t1 = Date()
        let png = PNG.encode(img)
        let t2 = Date()
        let back = try PNG.decode(png)
        let t3 = Date()
        print(
            "1024² RGBA: lanczos->518 \(t1.timeIntervalSince(t0)) s, PNG encode \(t2.timeIntervalSince(t1)) s "
                + "(\(png.count) bytes), decode \(t3.timeIntervalSince(t2)) s")
        #expect(small.width == 518 && back == img)
        // Generous bounds for a loaded 2-core machine; quiet-machine numbers are in the report.
        #expect(t3.timeIntervalSince(t0) < 8)
    }
}
