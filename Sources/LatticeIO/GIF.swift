// Animated GIF writing for turntables: one median-cut global palette over all frames, LZW
// (variable code size up to 12 bits, giflib's code-size schedule), NETSCAPE2.0 loop-forever
// extension. Plus a numbered-PNG frame-sequence writer.
import Foundation
import LatticeGeometry
import LatticeTensor

/// Animated GIF encoder.
public enum GIF {
    /// Writes `frames` (RGB or RGBA float images of one size) as a looping animated GIF,
    /// atomically. `delay` is per frame in seconds (GIF stores hundredths). Pixels with alpha
    /// below 0.5 become transparent.
    public static func write(_ frames: [RasterImage], to url: URL, delay: Double = 1.0 / 30)
        throws
    {
        try writeAtomically(Data(try encode(frames, delay: delay, source: url.path)), to: url)
    }

    /// Encodes `frames` as animated GIF bytes.
    public static func encode(
        _ frames: [RasterImage], delay: Double = 1.0 / 30, source: String = "GIF"
    )
        throws -> [UInt8]
    {
        guard let first = frames.first else {
            throw LatticeError(.invalidArgument, "\(source): no frames to write")
        }
        let w = first.width
        let h = first.height
        guard w > 0, h > 0, w < 65536, h < 65536 else {
            throw LatticeError(
                .invalidArgument, "\(source): frame size \(w)x\(h) outside 1...65535")
        }
        for (i, f) in frames.enumerated() where f.width != w || f.height != h || f.channels < 3 {
            throw LatticeError(
                .invalidArgument,
                "\(source): frame \(i) is \(f.width)x\(f.height)x\(f.channels), expected \(w)x\(h) RGB or RGBA"
            )
        }
        // 8-bit RGB per pixel and a transparency mask.
        var rgb: [[SIMD3<UInt8>]] = []
        var transparent: [[Bool]] = []
        var anyTransparent = false
        for f in frames {
            var px = [SIMD3<UInt8>](repeating: .zero, count: w * h)
            var tr = [Bool](repeating: false, count: w * h)
            for i in 0..<(w * h) {
                let b = i * f.channels
                func q(_ v: Float) -> UInt8 { UInt8((min(max(v, 0), 1) * 255).rounded()) }
                px[i] = SIMD3(q(f.pixels[b]), q(f.pixels[b + 1]), q(f.pixels[b + 2]))
                if f.channels == 4 && f.pixels[b + 3] < 0.5 {
                    tr[i] = true
                    anyTransparent = true
                }
            }
            rgb.append(px)
            transparent.append(tr)
        }
        let paletteSize = anyTransparent ? 255 : 256
        // Sample at most ~256K opaque pixels across frames for the palette.
        var samples: [SIMD3<UInt8>] = []
        let totalPixels = frames.count * w * h
        let step = max(1, totalPixels / 262_144)
        var k = 0
        for (fi, px) in rgb.enumerated() {
            for i in 0..<px.count {
                if k % step == 0 && !transparent[fi][i] { samples.append(px[i]) }
                k += 1
            }
        }
        if samples.isEmpty { samples = [.zero] }
        var palette = medianCut(samples, colors: paletteSize)
        let transparentIndex = anyTransparent ? palette.count : -1
        if anyTransparent { palette.append(.zero) }
        while palette.count < 256 { palette.append(.zero) }
        // Nearest palette entry per 15-bit colour, filled lazily.
        var cache = [Int16](repeating: -1, count: 1 << 15)
        func nearest(_ c: SIMD3<UInt8>) -> UInt8 {
            let key = Int(c.x >> 3) << 10 | Int(c.y >> 3) << 5 | Int(c.z >> 3)
            if cache[key] >= 0 { return UInt8(cache[key]) }
            // Search with the bucket's centre so every colour in it maps the same way.
            let r = Int(c.x >> 3) * 8 + 4
            let g = Int(c.y >> 3) * 8 + 4
            let b = Int(c.z >> 3) * 8 + 4
            var best = 0
            var bestD = Int.max
            for j in 0..<paletteSize where j < palette.count {
                let p = palette[j]
                let d =
                    (Int(p.x) - r) * (Int(p.x) - r) + (Int(p.y) - g) * (Int(p.y) - g)
                    + (Int(p.z) - b) * (Int(p.z) - b)
                if d < bestD {
                    bestD = d
                    best = j
                }
            }
            cache[key] = Int16(best)
            return UInt8(best)
        }
        var out: [UInt8] = Array("GIF89a".utf8)
        func le16(_ v: Int) { out += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        le16(w)
        le16(h)
        out += [0xF7, 0, 0]  // global colour table, 8 bits/channel, 256 entries
        for p in palette { out += [p.x, p.y, p.z] }
        // NETSCAPE2.0 application extension: loop count 0 = forever.
        out += [0x21, 0xFF, 0x0B] + Array("NETSCAPE2.0".utf8) + [3, 1, 0, 0, 0]
        let centiseconds = max(0, min(65535, Int((delay * 100).rounded())))
        for (fi, px) in rgb.enumerated() {
            // Graphic control: disposal 2 (restore to background) so transparent areas clear.
            let flags: UInt8 = (2 << 2) | (anyTransparent ? 1 : 0)
            out += [0x21, 0xF9, 4, flags]
            le16(centiseconds)
            out += [UInt8(max(transparentIndex, 0)), 0]
            out += [0x2C]
            le16(0)
            le16(0)
            le16(w)
            le16(h)
            out.append(0)
            var indices = [UInt8](repeating: 0, count: w * h)
            for i in 0..<(w * h) {
                indices[i] = transparent[fi][i] ? UInt8(transparentIndex) : nearest(px[i])
            }
            out.append(8)
            let lzw = lzwEncode(indices, minCodeSize: 8)
            var s = 0
            while s < lzw.count {
                let n = min(255, lzw.count - s)
                out.append(UInt8(n))
                out += lzw[s..<(s + n)]
                s += n
            }
            out.append(0)
        }
        out.append(0x3B)
        return out
    }

    /// Median cut: split the box with the largest (range x count) along its widest channel at
    /// the median until `colors` boxes; each colour is its box's mean.
    static func medianCut(_ pixels: [SIMD3<UInt8>], colors: Int) -> [SIMD3<UInt8>] {
        var boxes: [ArraySlice<SIMD3<UInt8>>] = [pixels[...]]
        var work = pixels
        func extent(_ b: ArraySlice<SIMD3<UInt8>>) -> (Int, Int) {
            var lo = SIMD3<UInt8>(repeating: 255)
            var hi = SIMD3<UInt8>(repeating: 0)
            for p in b {
                lo = pointwiseMin(lo, p)
                hi = pointwiseMax(hi, p)
            }
            let r = [Int(hi.x) - Int(lo.x), Int(hi.y) - Int(lo.y), Int(hi.z) - Int(lo.z)]
            let axis = r.firstIndex(of: r.max() ?? 0) ?? 0
            return (r[axis], axis)
        }
        var ranges = [extent(boxes[0])]
        while boxes.count < colors {
            var pick = -1
            var score = 0
            for (i, b) in boxes.enumerated() where b.count > 1 && ranges[i].0 > 0 {
                let s = ranges[i].0 * b.count
                if s > score {
                    score = s
                    pick = i
                }
            }
            if pick < 0 { break }
            let b = boxes[pick]
            let axis = ranges[pick].1
            let sorted = b.sorted { $0[axis] < $1[axis] }
            let lo = b.startIndex
            for (j, p) in sorted.enumerated() { work[lo + j] = p }
            let mid = lo + sorted.count / 2
            let left = work[lo..<mid]
            let right = work[mid..<b.endIndex]
            boxes[pick] = left
            ranges[pick] = extent(left)
            boxes.append(right)
            ranges.append(extent(right))
        }
        return boxes.map { b in
            var s = SIMD3<Int>.zero
            for p in b { s &+= SIMD3(Int(p.x), Int(p.y), Int(p.z)) }
            let n = max(b.count, 1)
            return SIMD3(
                UInt8((s.x + n / 2) / n), UInt8((s.y + n / 2) / n), UInt8((s.z + n / 2) / n))
        }
    }

    /// GIF LZW: LSB-first codes starting at `minCodeSize + 1` bits, a clear code first and
    /// whenever the 4096-entry table fills, end-of-information last.
    static func lzwEncode(_ indices: [UInt8], minCodeSize: Int) -> [UInt8] {
        let clear = 1 << minCodeSize
        let eoi = clear + 1
        var codeSize = minCodeSize + 1
        var nextCode = eoi + 1
        var table = [Int32](repeating: -1, count: 4096 * 256)  // (prefix << 8 | byte) -> code
        var used: [Int] = []
        var out: [UInt8] = []
        var buffer = 0
        var bits = 0
        func emit(_ code: Int) {
            buffer |= code << bits
            bits += codeSize
            while bits >= 8 {
                out.append(UInt8(buffer & 0xFF))
                buffer >>= 8
                bits -= 8
            }
            // giflib raises the code size after writing once the next free code needs it.
            if nextCode >= (1 << codeSize) && codeSize < 12 { codeSize += 1 }
        }
        emit(clear)
        guard var prefix = indices.first.map(Int.init) else {
            emit(eoi)
            if bits > 0 { out.append(UInt8(buffer & 0xFF)) }
            return out
        }
        for byte in indices.dropFirst() {
            let key = prefix << 8 | Int(byte)
            let hit = table[key]
            if hit >= 0 {
                prefix = Int(hit)
                continue
            }
            emit(prefix)
            if nextCode >= 4095 {
                emit(clear)
                for u in used { table[u] = -1 }
                used.removeAll(keepingCapacity: true)
                nextCode = eoi + 1
                codeSize = minCodeSize + 1
            } else {
                table[key] = Int32(nextCode)
                used.append(key)
                nextCode += 1
            }
            prefix = Int(byte)
        }
        emit(prefix)
        emit(eoi)
        if bits > 0 { out.append(UInt8(buffer & 0xFF)) }
        return out
    }
}

/// Writes frames as `<prefix>0000.png`, `<prefix>0001.png`, ... in `directory` (8-bit PNGs,
/// each atomically); returns the file URLs.
@discardableResult
public func writeFrameSequence(
    _ frames: [RasterImage], to directory: URL, prefix: String = "frame_"
)
    throws -> [URL]
{
    do {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    } catch {
        throw LatticeError(.io, "\(directory.path): cannot create directory (\(error))")
    }
    return try frames.enumerated().map { i, f in
        let url = directory.appendingPathComponent(prefix + String(format: "%04d.png", i))
        try writePNG(f, to: url)
        return url
    }
}
