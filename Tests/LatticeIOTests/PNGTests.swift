// PNG: decoding files PIL (and a zlib-only writer for Adam7) produced, our encoder's round trips
// at 8/16 bits for every channel count, size against PIL's zlib output, and corrupt input errors.
// Fixtures in Tests/Fixtures/io were made once with Pillow 13.0 + NumPy (see README.md there).
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeTensor
import Testing

@Suite struct PNGTests {
    @Test func decodesPILWrittenFiles() throws {
        let rgba = try PNG.read(IOFixtures.url("src_rgba.png"))
        #expect(rgba.width == 64 && rgba.height == 48 && rgba.channels == 4 && rgba.bitDepth == 8)
        let gray = try PNG.read(IOFixtures.url("png_gray8.png"))
        let rgb = try PNG.read(IOFixtures.url("png_rgb8.png"))
        let la = try PNG.read(IOFixtures.url("png_la8.png"))
        for y in 0..<48 {
            for x in 0..<64 {
                #expect(gray[x, y, 0] == rgba[x, y, 0])
                #expect(la[x, y, 1] == rgba[x, y, 3])
                for c in 0..<3 { #expect(rgb[x, y, c] == rgba[x, y, c]) }
            }
        }
        // 4-bit palette image against PIL's own RGB expansion.
        let pal = try PNG.read(IOFixtures.url("png_pal4.png"))
        let palExpected = try PNG.read(IOFixtures.url("png_pal4_expected.png"))
        #expect(pal == palExpected)
        // 16-bit gray against the raw little-endian samples NumPy stored.
        let g16 = try PNG.read(IOFixtures.url("png_gray16.png"))
        let raw = try IOFixtures.bytes("png_gray16.u16")
        let want = (0..<(raw.count / 2)).map { UInt16(raw[2 * $0]) | UInt16(raw[2 * $0 + 1]) << 8 }
        #expect(g16.bitDepth == 16 && g16.samples == want)
        // Adam7 with all five filters against the same pixels stored non-interlaced.
        #expect(
            try PNG.read(IOFixtures.url("png_adam7_rgb8.png"))
                == PNG.read(IOFixtures.url("png_adam7_expected.png")))
    }

    @Test func roundTripsAllLayoutsAndDepths() throws {
        var rng = TestRNG(3)
        for channels in 1...4 {
            for depth in [8, 16] {
                let (w, h) = (17, 9)
                let samples = (0..<(w * h * channels)).map { i -> UInt16 in
                    let smooth = UInt16((i * 7) % (depth == 8 ? 256 : 65536))
                    return i % 3 == 0
                        ? smooth
                        : UInt16(truncatingIfNeeded: rng.next()) & (depth == 8 ? 255 : 65535)
                }
                let image = PixelImage(
                    width: w, height: h, channels: channels, bitDepth: depth, samples: samples)
                #expect(
                    try PNG.decode(PNG.encode(image)) == image, "\(channels) channels, \(depth) bit"
                )
            }
        }
        let dir = try TempDir()
        defer { dir.cleanup() }
        let raster = RasterImageFactory.gradient(width: 5, height: 4)
        try writePNG(raster, to: dir.file("g.png"))
        let back = try readImage(at: dir.file("g.png"))
        // 8-bit quantisation: at most half a step (1/510) per sample.
        #expect(zip(back.pixels, raster.pixels).allSatisfy { abs($0 - $1) <= 0.5 / 255 + 1e-6 })
    }

    @Test func compressesWithinPILSize() throws {
        // PIL writes png_rgb8.png with zlib level 6 and its own filter choice: 6973 bytes.
        let rgb = try PNG.read(IOFixtures.url("png_rgb8.png"))
        let ours = PNG.encode(rgb)
        let pilSize = try IOFixtures.bytes("png_rgb8.png").count
        print("PNG 64x48 RGB: ours \(ours.count) bytes, PIL \(pilSize)")
        #expect(Double(ours.count) < 1.3 * Double(pilSize))
    }

    @Test func corruptFilesGiveErrorsNamingFileAndChunk() throws {
        let good = try IOFixtures.bytes("png_rgb8.png")
        var badCRC = good
        badCRC[20] ^= 0xFF  // inside IHDR
        do {
            _ = try PNG.decode(badCRC, source: "x.png")
            Issue.record("expected an error")
        } catch let e as LatticeError {
            #expect(
                e.message.contains("x.png") && e.message.contains("IHDR")
                    && e.message.contains("CRC"))
        }
        do {
            _ = try PNG.decode(Array(good.prefix(good.count - 30)), source: "t.png")
            Issue.record("expected an error")
        } catch let e as LatticeError {
            #expect(e.message.contains("t.png") && e.message.contains("truncated"))
        }
    }
}

enum RasterImageFactory {
    static func gradient(width: Int, height: Int) -> RasterImage {
        RasterImage(
            width: width, height: height, channels: 3,
            pixels: (0..<(width * height * 3)).map { Float($0 % 11) / 10 })
    }
}
