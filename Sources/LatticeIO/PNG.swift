// PNG (ISO/IEC 15948) reading and writing: every colour type and bit depth, all five filters,
// Adam7 interlacing and palette/tRNS expansion on read; 8/16-bit gray, gray+alpha, RGB, RGBA
// with per-row adaptive filters on write. CRCs are checked; errors name the file and chunk.
import Foundation
import LatticeTensor

/// PNG codec.
public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Reads a PNG file.
    public static func read(_ url: URL) throws -> PixelImage {
        try decode(try readFileBytes(url), source: url.path)
    }

    /// Writes `image` as a PNG file atomically (zlib `level` 0...9).
    public static func write(_ image: PixelImage, to url: URL, level: Int = 6) throws {
        try writeAtomically(Data(encode(image, level: level)), to: url)
    }

    /// Decodes PNG bytes. Palette images become RGB (RGBA with tRNS); gray/RGB with tRNS gain
    /// an alpha channel; 1/2/4-bit gray is scaled to 8 bits. `source` names the file in errors.
    public static func decode(_ data: [UInt8], source: String = "PNG data") throws -> PixelImage {
        func fail(_ why: String) -> LatticeError { LatticeError(.invalidFile, "\(source): \(why)") }
        guard data.count >= 8, Array(data[0..<8]) == signature else {
            throw fail("not a PNG file (bad signature)")
        }
        var pos = 8
        var header: (w: Int, h: Int, depth: Int, color: Int, interlace: Int)?
        var palette: [UInt8] = []
        var trns: [UInt8]?
        var idat: [UInt8] = []
        var sawEnd = false
        func be32(_ i: Int) -> Int {
            Int(data[i]) << 24 | Int(data[i + 1]) << 16 | Int(data[i + 2]) << 8 | Int(data[i + 3])
        }
        while pos < data.count {
            guard pos + 8 <= data.count else {
                throw fail("truncated chunk header at offset \(pos)")
            }
            let length = be32(pos)
            let typeBytes = data[(pos + 4)..<(pos + 8)]
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard length >= 0, length <= 0x7FFF_FFFF, pos + 12 + length <= data.count else {
                throw fail("chunk \(type) at offset \(pos) is truncated (length \(length))")
            }
            let body = Array(data[(pos + 8)..<(pos + 8 + length)])
            let crc = UInt32(be32(pos + 8 + length))
            guard CRC32.checksum(data[(pos + 4)..<(pos + 8 + length)]) == crc else {
                throw fail("chunk \(type) at offset \(pos): CRC mismatch (corrupt file)")
            }
            pos += 12 + length
            switch type {
            case "IHDR":
                guard length == 13 else { throw fail("chunk IHDR: length \(length), expected 13") }
                let w = Int(body[0]) << 24 | Int(body[1]) << 16 | Int(body[2]) << 8 | Int(body[3])
                let h = Int(body[4]) << 24 | Int(body[5]) << 16 | Int(body[6]) << 8 | Int(body[7])
                let depth = Int(body[8])
                let color = Int(body[9])
                let allowed: [Int: [Int]] = [
                    0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16],
                ]
                guard let depths = allowed[color], depths.contains(depth) else {
                    throw fail(
                        "chunk IHDR: colour type \(color) with bit depth \(depth) is invalid")
                }
                guard w > 0, h > 0, w <= 1 << 24, h <= 1 << 24, w * h <= 1 << 28 else {
                    throw fail("chunk IHDR: image size \(w)x\(h) is invalid or too large")
                }
                guard body[10] == 0, body[11] == 0, body[12] <= 1 else {
                    throw fail("chunk IHDR: unknown compression/filter/interlace method")
                }
                header = (w, h, depth, color, Int(body[12]))
            case "PLTE": palette = body
            case "tRNS": trns = body
            case "IDAT":
                guard header != nil else { throw fail("chunk IDAT before IHDR") }
                idat += body
            case "IEND":
                sawEnd = true
            default:
                // Unknown critical chunks (uppercase first letter) cannot be skipped safely.
                if let first = typeBytes.first, first & 0x20 == 0 {
                    throw fail("unknown critical chunk \(type)")
                }
            }
            if sawEnd { break }
        }
        guard let hd = header else { throw fail("missing IHDR chunk") }
        guard sawEnd else { throw fail("truncated file (no IEND chunk)") }
        guard !idat.isEmpty else { throw fail("no IDAT chunk") }
        if hd.color == 3 {
            guard !palette.isEmpty, palette.count % 3 == 0, palette.count <= 768 else {
                throw fail("chunk PLTE: missing or bad length \(palette.count)")
            }
        }
        let raw: [UInt8]
        do {
            raw = try Zlib.decompress(idat, source: "\(source): chunk IDAT")
        }
        let fileChannels = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][hd.color] ?? 1
        let bitsPerPixel = fileChannels * hd.depth
        let bpp = max(1, bitsPerPixel / 8)
        // Unfiltered samples of the whole image at file depth, one pixel-row-aligned row each.
        var samples = [UInt16](repeating: 0, count: hd.w * hd.h * fileChannels)
        var offset = 0
        let passes: [(x0: Int, y0: Int, dx: Int, dy: Int)] =
            hd.interlace == 1
            ? [
                (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                (0, 1, 1, 2),
            ]
            : [(0, 0, 1, 1)]
        for pass in passes {
            let pw = (hd.w - pass.x0 + pass.dx - 1) / pass.dx
            let ph = (hd.h - pass.y0 + pass.dy - 1) / pass.dy
            if pw <= 0 || ph <= 0 { continue }
            let stride = (pw * bitsPerPixel + 7) / 8
            guard offset + ph * (stride + 1) <= raw.count else {
                throw fail(
                    "chunk IDAT: \(raw.count) bytes of image data, expected at least "
                        + "\(offset + ph * (stride + 1)) (truncated)")
            }
            var prior = [UInt8](repeating: 0, count: stride)
            var row = [UInt8](repeating: 0, count: stride)
            for y in 0..<ph {
                let filter = raw[offset]
                for i in 0..<stride { row[i] = raw[offset + 1 + i] }
                offset += stride + 1
                try unfilter(filter, &row, prior, bpp: bpp, fail: fail)
                let yy = pass.y0 + y * pass.dy
                for x in 0..<pw {
                    let xx = pass.x0 + x * pass.dx
                    for c in 0..<fileChannels {
                        let v: UInt16
                        switch hd.depth {
                        case 16:
                            let i = (x * fileChannels + c) * 2
                            v = UInt16(row[i]) << 8 | UInt16(row[i + 1])
                        case 8: v = UInt16(row[x * fileChannels + c])
                        default:
                            let bit = (x * fileChannels + c) * hd.depth
                            let byte = row[bit >> 3]
                            let shift = 8 - hd.depth - (bit & 7)
                            v = UInt16((byte >> UInt8(shift)) & UInt8((1 << hd.depth) - 1))
                        }
                        samples[(yy * hd.w + xx) * fileChannels + c] = v
                    }
                }
                swap(&prior, &row)
            }
        }
        let outDepth = hd.depth == 16 ? 16 : 8
        switch hd.color {
        case 3:
            let entries = palette.count / 3
            let alpha = trns.map { t in (0..<entries).map { $0 < t.count ? t[$0] : 255 } }
            let oc = alpha == nil ? 3 : 4
            var out = [UInt16](repeating: 0, count: hd.w * hd.h * oc)
            for i in 0..<(hd.w * hd.h) {
                let idx = Int(samples[i])
                guard idx < entries else {
                    throw fail("pixel \(i) uses palette index \(idx) of \(entries) (corrupt)")
                }
                for c in 0..<3 { out[i * oc + c] = UInt16(palette[idx * 3 + c]) }
                if let alpha { out[i * oc + 3] = UInt16(alpha[idx]) }
            }
            return PixelImage(width: hd.w, height: hd.h, channels: oc, bitDepth: 8, samples: out)
        default:
            if hd.depth < 8 {
                // PIL and libpng scale low-depth gray to 8 bits by bit replication.
                let scale = UInt16(255 / ((1 << hd.depth) - 1))
                let key = trns.flatMap { $0.count >= 2 ? UInt16($0[1]) : nil }
                let oc = key == nil ? 1 : 2
                var out = [UInt16](repeating: 0, count: hd.w * hd.h * oc)
                for i in 0..<(hd.w * hd.h) {
                    out[i * oc] = samples[i] * scale
                    if let key { out[i * oc + 1] = samples[i] == key ? 0 : 255 }
                }
                return PixelImage(
                    width: hd.w, height: hd.h, channels: oc, bitDepth: 8, samples: out)
            }
            if let t = trns, hd.color == 0 || hd.color == 2 {
                // A colour key: pixels equal to it are transparent.
                let n = fileChannels
                guard t.count >= 2 * n else {
                    throw fail("chunk tRNS: length \(t.count) too short")
                }
                let key = (0..<n).map { UInt16(t[2 * $0]) << 8 | UInt16(t[2 * $0 + 1]) }
                let full = UInt16(outDepth == 16 ? 65535 : 255)
                var out = [UInt16](repeating: 0, count: hd.w * hd.h * (n + 1))
                for i in 0..<(hd.w * hd.h) {
                    var same = true
                    for c in 0..<n {
                        let v = samples[i * n + c]
                        out[i * (n + 1) + c] = v
                        if v != key[c] { same = false }
                    }
                    out[i * (n + 1) + n] = same ? 0 : full
                }
                return PixelImage(
                    width: hd.w, height: hd.h, channels: n + 1, bitDepth: outDepth, samples: out)
            }
            return PixelImage(
                width: hd.w, height: hd.h, channels: fileChannels, bitDepth: outDepth,
                samples: samples)
        }
    }

    static func unfilter(
        _ filter: UInt8, _ row: inout [UInt8], _ prior: [UInt8], bpp: Int,
        fail: (String) -> LatticeError
    ) throws {
        let n = row.count
        switch filter {
        case 0: break
        case 1: for i in bpp..<max(bpp, n) { row[i] &+= row[i - bpp] }
        case 2: for i in 0..<n { row[i] &+= prior[i] }
        case 3:
            for i in 0..<n {
                let a = i >= bpp ? Int(row[i - bpp]) : 0
                row[i] &+= UInt8((a + Int(prior[i])) >> 1)
            }
        case 4:
            for i in 0..<n {
                let a = i >= bpp ? Int(row[i - bpp]) : 0
                let c = i >= bpp ? Int(prior[i - bpp]) : 0
                row[i] &+= paeth(a, Int(prior[i]), c)
            }
        default: throw fail("chunk IDAT: invalid filter type \(filter)")
        }
    }

    @inline(__always) static func paeth(_ a: Int, _ b: Int, _ c: Int) -> UInt8 {
        let p = a + b - c
        let pa = abs(p - a)
        let pb = abs(p - b)
        let pc = abs(p - c)
        return UInt8(pa <= pb && pa <= pc ? a : pb <= pc ? b : c)
    }

    /// Encodes `image` as PNG bytes: colour type from `channels`, depth from `bitDepth`, each
    /// row filtered with whichever of the five filters gives the smallest sum of |signed bytes|.
    public static func encode(_ image: PixelImage, level: Int = 6) -> [UInt8] {
        let colorType: UInt8 = [1: 0, 2: 4, 3: 2, 4: 6][image.channels] ?? 0
        let bytesPerSample = image.bitDepth / 8
        let bpp = image.channels * bytesPerSample
        let stride = image.width * bpp
        var raw = [UInt8](repeating: 0, count: image.height * (stride + 1))
        var prior = [UInt8](repeating: 0, count: stride)
        var row = [UInt8](repeating: 0, count: stride)
        var candidates = [UInt8](repeating: 0, count: 5 * stride)
        for y in 0..<image.height {
            let base = y * image.width * image.channels
            for i in 0..<(image.width * image.channels) {
                let v = image.samples[base + i]
                if bytesPerSample == 2 {
                    row[2 * i] = UInt8(v >> 8)
                    row[2 * i + 1] = UInt8(v & 0xFF)
                } else {
                    row[i] = UInt8(truncatingIfNeeded: v)
                }
            }
            // All five filters in one pass; score = sum of |filtered byte as Int8|.
            var scores = [Int](repeating: 0, count: 5)
            row.withUnsafeBufferPointer { r in
                prior.withUnsafeBufferPointer { q in
                    candidates.withUnsafeMutableBufferPointer { out in
                        var s0 = 0
                        var s1 = 0
                        var s2 = 0
                        var s3 = 0
                        var s4 = 0
                        @inline(__always) func mag(_ v: UInt8) -> Int {
                            v < 128 ? Int(v) : 256 - Int(v)
                        }
                        for i in 0..<stride {
                            let x = r[i]
                            let a = i >= bpp ? Int(r[i - bpp]) : 0
                            let b = Int(q[i])
                            let c = i >= bpp ? Int(q[i - bpp]) : 0
                            let f0 = x
                            let f1 = x &- UInt8(a)
                            let f2 = x &- UInt8(b)
                            let f3 = x &- UInt8((a + b) >> 1)
                            let f4 = x &- paeth(a, b, c)
                            out[i] = f0
                            out[stride + i] = f1
                            out[2 * stride + i] = f2
                            out[3 * stride + i] = f3
                            out[4 * stride + i] = f4
                            s0 += mag(f0)
                            s1 += mag(f1)
                            s2 += mag(f2)
                            s3 += mag(f3)
                            s4 += mag(f4)
                        }
                        scores = [s0, s1, s2, s3, s4]
                    }
                }
            }
            var bestFilter = 0
            for f in 1..<5 where scores[f] < scores[bestFilter] { bestFilter = f }
            raw[y * (stride + 1)] = UInt8(bestFilter)
            let o = y * (stride + 1) + 1
            raw.withUnsafeMutableBufferPointer { dst in
                candidates.withUnsafeBufferPointer { src in
                    for i in 0..<stride { dst[o + i] = src[bestFilter * stride + i] }
                }
            }
            swap(&prior, &row)
        }
        var out = signature
        func chunk(_ type: String, _ body: [UInt8]) {
            let n = UInt32(body.count)
            out += [
                UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF),
            ]
            let typed = Array(type.utf8) + body
            out += typed
            let crc = CRC32.checksum(typed)
            out += [
                UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF),
                UInt8(crc & 0xFF),
            ]
        }
        func be(_ v: Int) -> [UInt8] {
            [
                UInt8((v >> 24) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF),
                UInt8(v & 0xFF),
            ]
        }
        chunk(
            "IHDR",
            be(image.width) + be(image.height) + [UInt8(image.bitDepth), colorType, 0, 0, 0])
        let z = Zlib.compress(raw, level: level)
        // IDAT chunks of at most 1 MiB keep readers with small buffers happy.
        var start = 0
        repeat {
            let end = min(z.count, start + (1 << 20))
            chunk("IDAT", Array(z[start..<end]))
            start = end
        } while start < z.count
        chunk("IEND", [])
        return out
    }
}
