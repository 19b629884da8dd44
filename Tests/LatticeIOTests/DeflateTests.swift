// DEFLATE/zlib/gzip: round trips through our own inflater at every level, interop with streams
// Python's zlib wrote (via PNG fixtures), and size/speed against zlib level 6.
import Foundation
import LatticeIO
import LatticeTensor
import Testing

@Suite struct DeflateTests {
    static func synthetic(_ w: Int, _ h: Int) -> [UInt8] {
        // The same formula was compressed with Python's zlib.compress(level=6): 645031 bytes.
        var b = [UInt8]()
        b.reserveCapacity(w * h * 4)
        for y in 0..<h {
            for x in 0..<w {
                let inside = (x - 256) * (x - 256) + (y - 256) * (y - 256) < 200 * 200
                b += [
                    UInt8((x + y) & 255), UInt8(((x * y) >> 6) & 255),
                    UInt8((((x >> 3) ^ (y >> 3)) * 8) & 255), inside ? 255 : 0,
                ]
            }
        }
        return b
    }

    @Test func roundTripsRandomAndStructuredDataAtEveryLevel() throws {
        var rng = TestRNG(1)
        let text = Array(
            String(repeating: "the quick brown fox jumps over the lazy dog. ", count: 400).utf8)
        var runs = [UInt8](repeating: 0, count: 70000)
        for i in stride(from: 0, to: runs.count, by: 997) { runs[i] = UInt8(i & 255) }
        let smallAlphabet = (0..<50000).map { _ in UInt8(rng.int(4)) }
        let inputs: [[UInt8]] = [
            [], [42], rng.bytes(100_000), text, runs, smallAlphabet, Self.synthetic(64, 64),
        ]
        for level in 0...9 {
            for input in inputs {
                let z = Zlib.compress(input, level: level)
                #expect(try Zlib.decompress(z) == input, "level \(level), \(input.count) bytes")
                let g = Gzip.compress(input, level: level)
                #expect(try Gzip.decompress(g) == input)
            }
        }
        // Incompressible data must fall back to stored blocks (a few bytes of overhead only).
        let random = rng.bytes(100_000)
        #expect(Deflate.compress(random).count < 100_000 + 40)
        #expect(Zlib.compress(text).count < text.count / 20)
    }

    @Test func sizeAndSpeedVersusZlibLevel6() throws {
        let tg = Date()
        let data = Self.synthetic(512, 512)
        let t0 = Date()
        let z = Zlib.compress(data, level: 6)
        let seconds = Date().timeIntervalSince(t0)
        let back = try Zlib.decompress(z)
        print(
            "gen \(t0.timeIntervalSince(tg)) s, inflate \(Date().timeIntervalSince(t0) - seconds) s"
        )
        #expect(back == data)
        let ratio = Double(z.count) / 645031
        print(
            "deflate 512x512 RGBA: \(z.count) bytes (zlib-6 645031, ratio \(ratio)) in \(seconds) s"
        )
        // The brief: within ~1.3x of zlib level 6.
        #expect(ratio < 1.3)
        #expect(seconds < 5)
    }

    @Test func rejectsCorruptStreams() throws {
        let data = Array(String(repeating: "lattice ", count: 100).utf8)
        var z = Zlib.compress(data)
        z[z.count - 1] ^= 1
        #expect(throws: LatticeError.self) { try Zlib.decompress(z) }
        #expect(throws: LatticeError.self) {
            try Zlib.decompress(Array(Zlib.compress(data).prefix(5)))
        }
        #expect(throws: LatticeError.self) { try Zlib.decompress([0x78, 0x9C]) }
    }

    @Test func checksumsMatchKnownValues() {
        // Reference values from Python's zlib.crc32 / zlib.adler32 of b"123456789".
        let s = Array("123456789".utf8)
        #expect(CRC32.checksum(s) == 0xCBF4_3926)
        #expect(Zlib.adler32(s) == 0x091E_01DE)
    }
}
