// Animated GIF: a small in-test GIF decoder (LZW with giflib-compatible code sizes) reads back
// what the writer produced; few-colour frames must come back exactly (median cut keeps every
// colour when there are fewer than 255), transparency and the loop extension must be present.
import Foundation
import LatticeGeometry
import LatticeTensor
import Testing

@testable import LatticeIO

@Suite struct GIFTests {
    /// Decodes GIF LZW data into palette indices.
    static func lzwDecode(_ data: [UInt8], minCodeSize: Int) -> [UInt8] {
        let clear = 1 << minCodeSize
        let eoi = clear + 1
        var codeSize = minCodeSize + 1
        var dict: [[UInt8]] = (0..<(eoi + 1)).map { $0 < clear ? [UInt8($0)] : [] }
        var out: [UInt8] = []
        var prev: [UInt8]? = nil
        var bitPos = 0
        while bitPos + codeSize <= data.count * 8 {
            var code = 0
            for b in 0..<codeSize where data[(bitPos + b) >> 3] & (1 << ((bitPos + b) & 7)) != 0 {
                code |= 1 << b
            }
            bitPos += codeSize
            if code == clear {
                dict = Array(dict[0...eoi])
                codeSize = minCodeSize + 1
                prev = nil
                continue
            }
            if code == eoi { break }
            let entry: [UInt8]
            if code < dict.count {
                entry = dict[code]
                if let p = prev { dict.append(p + [entry[0]]) }
            } else {
                let p = prev ?? []
                entry = p + [p.first ?? 0]
                dict.append(entry)
            }
            out += entry
            prev = entry
            if dict.count == (1 << codeSize) && codeSize < 12 { codeSize += 1 }
        }
        return out
    }

    @Test func lzwRoundTripsWithTableResets() {
        var rng = TestRNG(5)
        let data = (0..<120_000).map { i in UInt8(i % 7 == 0 ? rng.int(256) : (i / 13) % 256) }
        #expect(Self.lzwDecode(GIF.lzwEncode(data, minCodeSize: 8), minCodeSize: 8) == data)
    }

    @Test func animatedFramesRoundTrip() throws {
        let (w, h) = (40, 30)
        var frames: [RasterImage] = []
        for f in 0..<3 {
            var img = RasterImage(width: w, height: h, channels: 4, fill: 1)
            for y in 0..<h {
                for x in 0..<w {
                    let c = (x / 4 + y / 6 * 10 + f) % 50
                    img[x, y, 0] = Float(c * 5) / 255
                    img[x, y, 1] = Float(255 - c * 3) / 255
                    img[x, y, 2] = Float((c * 37) % 256) / 255
                    if f == 1 && x < 5 { img[x, y, 3] = 0 }
                }
            }
            frames.append(img)
        }
        let bytes = try GIF.encode(frames, delay: 0.05)
        #expect(Array(bytes.prefix(6)) == Array("GIF89a".utf8) && bytes.last == 0x3B)
        let netscape = Array("NETSCAPE2.0".utf8)
        #expect((0..<(bytes.count - 11)).contains { Array(bytes[$0..<($0 + 11)]) == netscape })
        let palette = bytes[13..<(13 + 768)].map { $0 }
        // Walk the blocks: extensions, then image descriptors with their LZW sub-blocks.
        var p = 13 + 768
        var decoded: [[UInt8]] = []
        var transparentIndex = -1
        while bytes[p] != 0x3B {
            if bytes[p] == 0x21 {
                if bytes[p + 1] == 0xF9 {
                    #expect(Int(bytes[p + 4]) | Int(bytes[p + 5]) << 8 == 5)
                    if bytes[p + 3] & 1 != 0 { transparentIndex = Int(bytes[p + 6]) }
                }
                p += 2
                while bytes[p] != 0 { p += Int(bytes[p]) + 1 }
                p += 1
            } else {
                #expect(bytes[p] == 0x2C)
                p += 10
                let minCode = Int(bytes[p])
                p += 1
                var lzw: [UInt8] = []
                while bytes[p] != 0 {
                    lzw += bytes[(p + 1)..<(p + 1 + Int(bytes[p]))]
                    p += Int(bytes[p]) + 1
                }
                p += 1
                decoded.append(Self.lzwDecode(lzw, minCodeSize: minCode))
            }
        }
        #expect(decoded.count == 3 && transparentIndex >= 0)
        for (f, idx) in decoded.enumerated() {
            #expect(idx.count == w * h)
            for i in 0..<min(idx.count, w * h) {
                let x = i % w
                if f == 1 && x < 5 {
                    #expect(Int(idx[i]) == transparentIndex)
                    continue
                }
                let k = Int(idx[i])
                for c in 0..<3 {
                    let want = UInt8((frames[f].pixels[i * 4 + c] * 255).rounded())
                    #expect(palette[3 * k + c] == want)
                }
            }
        }
    }
}
