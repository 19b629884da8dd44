// JPEG decoding against Pillow's decode of the same files (Tests/Fixtures/io/jpeg_*; see
// README.md there): baseline 4:4:4 / 4:2:2 / 4:2:0 / gray, progressive, restart markers, odd size.
import Foundation
import LatticeIO
import LatticeTensor
import Testing

@Suite struct JPEGTests {
    @Test(arguments: ["444", "422", "420", "gray", "prog420", "restart420", "odd420"])
    func matchesPillow(name: String) throws {
        let got = try JPEG.read(IOFixtures.url("jpeg_\(name).jpg"))
        let want = try PNG.read(IOFixtures.url("jpeg_\(name)_pil.png"))
        #expect(
            got.width == want.width && got.height == want.height && got.channels == want.channels)
        var maxDiff = 0
        var diffs = 0
        for (a, b) in zip(got.samples, want.samples) where a != b {
            maxDiff = max(maxDiff, abs(Int(a) - Int(b)))
            diffs += 1
        }
        print("jpeg \(name): \(diffs) of \(want.samples.count) samples differ, max \(maxDiff)")
        // Same integer IDCT, fancy upsampling and colour tables as libjpeg-turbo: bit-exact.
        #expect(maxDiff == 0)
    }

    @Test func truncatedAndCorruptFilesThrow() throws {
        let good = try IOFixtures.bytes("jpeg_420.jpg")
        #expect(throws: LatticeError.self) { try JPEG.decode(Array(good.prefix(100))) }
        #expect(throws: LatticeError.self) { try JPEG.decode([0xFF, 0xD8, 0xFF]) }
        #expect(throws: LatticeError.self) { try JPEG.decode(Array("not a jpeg".utf8)) }
    }
}
