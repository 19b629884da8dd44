// JPEG decoding (ITU T.81): baseline and extended sequential and progressive Huffman scans,
// restart markers, gray or YCbCr with any sampling factors. To match Pillow (libjpeg-turbo with
// its defaults) the IDCT is libjpeg's "islow" integer transform, 2x1 and 2x2 chroma use its
// "fancy" triangle upsampling and YCbCr->RGB uses its 16-bit fixed-point tables.
import Foundation
import LatticeTensor

/// JPEG decoder.
public enum JPEG {
    /// Reads a JPEG file.
    public static func read(_ url: URL) throws -> PixelImage {
        try decode(try readFileBytes(url), source: url.path)
    }

    /// Decodes JPEG bytes into an 8-bit gray or RGB image; `source` names the input in errors.
    public static func decode(_ data: [UInt8], source: String = "JPEG data") throws -> PixelImage {
        var d = JPEGDecoder(data: data, source: source)
        return try d.decode()
    }
}

private let zigzag: [Int] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27,
    20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58,
    59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]

private struct HuffmanTable {
    var maxCode = [Int](repeating: -1, count: 18)
    var valPtr = [Int](repeating: 0, count: 17)
    var minCode = [Int](repeating: 0, count: 17)
    var values: [UInt8] = []
    var lookup = [UInt16](repeating: 0, count: 256)  // 8-bit fast path: length << 8 | value

    init(counts: [Int], values: [UInt8]) {
        self.values = values
        var code = 0
        var k = 0
        for l in 1...16 {
            valPtr[l] = k
            minCode[l] = code
            code += counts[l - 1]
            k += counts[l - 1]
            maxCode[l] = counts[l - 1] > 0 ? code - 1 : -1
            code <<= 1
        }
        maxCode[17] = Int.max
        // Fill the 8-bit lookup for short codes.
        var c = 0
        var idx = 0
        for l in 1...16 {
            for _ in 0..<counts[l - 1] {
                if l <= 8 && (c + 1) << (8 - l) <= 256 {
                    let base = c << (8 - l)
                    for j in 0..<(1 << (8 - l)) {
                        lookup[base + j] = UInt16(l << 8) | UInt16(values[idx])
                    }
                }
                c += 1
                idx += 1
            }
            c <<= 1
        }
    }
}

private struct Component {
    var id: Int
    var h: Int
    var v: Int
    var tq: Int
    var blocksWide = 0  // blocks covering the component's own samples
    var blocksHigh = 0
    var stride = 0  // blocks per row in storage (MCU-padded)
    var rowsStored = 0
    var coefficients: [Int32] = []
    var dcPred: Int32 = 0
    var dcTable = 0
    var acTable = 0
}

private struct JPEGDecoder {
    let data: [UInt8]
    let source: String
    var pos = 0
    var quant = [[Int32]](repeating: [Int32](repeating: 0, count: 64), count: 4)
    var dcTables = [HuffmanTable?](repeating: nil, count: 4)
    var acTables = [HuffmanTable?](repeating: nil, count: 4)
    var components: [Component] = []
    var width = 0
    var height = 0
    var progressive = false
    var restartInterval = 0
    var hmax = 1
    var vmax = 1
    var mcusX = 0
    var mcusY = 0
    var adobeTransform: Int?
    // Entropy decoder state.
    var bitBuffer: UInt32 = 0
    var bitCount = 0
    var eobrun = 0
    var hitMarker = false

    init(data: [UInt8], source: String) {
        self.data = data
        self.source = source
    }

    func fail(_ why: String) -> LatticeError { LatticeError(.invalidFile, "\(source): \(why)") }

    mutating func u16() throws -> Int {
        guard pos + 2 <= data.count else { throw fail("truncated at byte \(pos)") }
        defer { pos += 2 }
        return Int(data[pos]) << 8 | Int(data[pos + 1])
    }

    mutating func decode() throws -> PixelImage {
        guard data.count >= 4, data[0] == 0xFF, data[1] == 0xD8 else {
            throw fail("not a JPEG file (no SOI marker)")
        }
        pos = 2
        var frameSeen = false
        var scans = 0
        while true {
            // Find the next marker (skipping fill bytes).
            while pos < data.count && data[pos] != 0xFF { pos += 1 }
            while pos < data.count && data[pos] == 0xFF { pos += 1 }
            guard pos < data.count else {
                if scans > 0 { break }  // a missing EOI after complete scans is tolerated
                throw fail("truncated file (no image data)")
            }
            let marker = data[pos]
            pos += 1
            if marker == 0xD9 { break }  // EOI
            if (0xD0...0xD7).contains(marker) || marker == 0x01 { continue }
            let start = pos
            let length = try u16()
            guard length >= 2, start + length <= data.count else {
                throw fail(
                    String(format: "segment FF%02X at byte %d is truncated", marker, start - 2))
            }
            let end = start + length
            switch marker {
            case 0xDB: try readDQT(end)
            case 0xC4: try readDHT(end)
            case 0xDD:
                guard length == 4 else {
                    throw fail("DRI segment has length \(length), expected 4")
                }
                restartInterval = try u16()
            case 0xC0, 0xC1, 0xC2:
                guard !frameSeen else { throw fail("more than one SOF segment") }
                progressive = marker == 0xC2
                try readSOF(end)
                frameSeen = true
            case 0xC3, 0xC5...0xC7, 0xC9...0xCB, 0xCD...0xCF:
                throw LatticeError(
                    .unsupported,
                    String(
                        format: "%@: SOF%d (lossless/hierarchical/arithmetic) is not supported",
                        source, Int(marker) - 0xC0))
            case 0xDA:
                guard frameSeen else { throw fail("SOS before SOF") }
                pos = start
                try readScan()
                scans += 1
                continue
            case 0xEE:
                if length >= 14, Array(data[(start + 2)..<(start + 7)]) == Array("Adobe".utf8) {
                    adobeTransform = Int(data[start + 13])
                }
            default: break  // APPn, COM, DNL...
            }
            pos = end
        }
        guard frameSeen else { throw fail("no SOF segment") }
        guard scans > 0 else { throw fail("no SOS segment (no image data)") }
        return try output()
    }

    mutating func readDQT(_ end: Int) throws {
        while pos < end {
            let pq = Int(data[pos] >> 4)
            let tq = Int(data[pos] & 15)
            pos += 1
            guard tq < 4, pq <= 1, pos + 64 * (pq + 1) <= end else { throw fail("bad DQT segment") }
            for i in 0..<64 {
                let v =
                    pq == 0
                    ? Int32(data[pos + i])
                    : Int32(data[pos + 2 * i]) << 8 | Int32(data[pos + 2 * i + 1])
                quant[tq][zigzag[i]] = v
            }
            pos += 64 * (pq + 1)
        }
    }

    mutating func readDHT(_ end: Int) throws {
        while pos < end {
            guard pos + 17 <= end else { throw fail("bad DHT segment (truncated)") }
            let tc = Int(data[pos] >> 4)
            let th = Int(data[pos] & 15)
            guard tc <= 1, th < 4 else { throw fail("bad DHT table class/id \(data[pos])") }
            let counts = (0..<16).map { Int(data[pos + 1 + $0]) }
            let total = counts.reduce(0, +)
            pos += 17
            guard total <= 256, pos + total <= end else {
                throw fail("bad DHT segment (\(total) codes)")
            }
            let table = HuffmanTable(counts: counts, values: Array(data[pos..<(pos + total)]))
            pos += total
            if tc == 0 { dcTables[th] = table } else { acTables[th] = table }
        }
    }

    mutating func readSOF(_ end: Int) throws {
        guard pos + 6 <= end else { throw fail("SOF segment truncated") }
        let precision = data[pos]
        guard precision == 8 else {
            throw LatticeError(
                .unsupported, "\(source): \(precision)-bit JPEG samples are not supported")
        }
        height = Int(data[pos + 1]) << 8 | Int(data[pos + 2])
        width = Int(data[pos + 3]) << 8 | Int(data[pos + 4])
        let n = Int(data[pos + 5])
        pos += 6
        guard width > 0, height > 0, width * height <= 1 << 28 else {
            throw fail("image size \(width)x\(height) is invalid (DNL heights unsupported)")
        }
        guard n == 1 || n == 3, pos + 3 * n <= end else {
            throw LatticeError(
                .unsupported, "\(source): \(n) colour components (only gray and YCbCr/RGB)")
        }
        for _ in 0..<n {
            let h = Int(data[pos + 1] >> 4)
            let v = Int(data[pos + 1] & 15)
            let tq = Int(data[pos + 2])
            guard (1...4).contains(h), (1...4).contains(v), tq < 4 else {
                throw fail("bad component sampling \(h)x\(v) or table \(tq)")
            }
            components.append(Component(id: Int(data[pos]), h: h, v: v, tq: tq))
            pos += 3
        }
        hmax = components.map(\.h).max() ?? 1
        vmax = components.map(\.v).max() ?? 1
        mcusX = (width + 8 * hmax - 1) / (8 * hmax)
        mcusY = (height + 8 * vmax - 1) / (8 * vmax)
        for i in components.indices {
            let c = components[i]
            let cw = (width * c.h + hmax - 1) / hmax
            let ch = (height * c.v + vmax - 1) / vmax
            components[i].blocksWide = (cw + 7) / 8
            components[i].blocksHigh = (ch + 7) / 8
            components[i].stride = mcusX * c.h
            components[i].rowsStored = mcusY * c.v
            components[i].coefficients = [Int32](
                repeating: 0, count: mcusX * c.h * mcusY * c.v * 64)
        }
    }

    // MARK: entropy decoding

    mutating func fill() {
        while bitCount <= 24 {
            var byte: UInt32 = 0
            if !hitMarker && pos < data.count {
                let b = data[pos]
                if b == 0xFF {
                    let next = pos + 1 < data.count ? data[pos + 1] : 0xD9
                    if next == 0 {
                        byte = 0xFF
                        pos += 2
                    } else {
                        hitMarker = true  // a marker: feed zeros, as libjpeg does
                    }
                } else {
                    byte = UInt32(b)
                    pos += 1
                }
            } else if pos >= data.count {
                hitMarker = true
            }
            bitBuffer |= byte << UInt32(24 - bitCount)
            bitCount += 8
        }
    }

    mutating func bits(_ n: Int) -> Int {
        if n == 0 { return 0 }
        if bitCount < n { fill() }
        let v = Int(bitBuffer >> UInt32(32 - n))
        bitBuffer <<= UInt32(n)
        bitCount -= n
        return v
    }

    mutating func bit() -> Int { bits(1) }

    mutating func huff(_ t: HuffmanTable) throws -> Int {
        if bitCount < 16 { fill() }
        let peek = Int(bitBuffer >> 24)
        let e = t.lookup[peek]
        if e != 0 {
            let l = Int(e >> 8)
            bitBuffer <<= UInt32(l)
            bitCount -= l
            return Int(e & 0xFF)
        }
        var code = 0
        for l in 1...16 {
            code = code << 1 | bit()
            if code <= t.maxCode[l] { return Int(t.values[t.valPtr[l] + code - t.minCode[l]]) }
        }
        throw fail("corrupt entropy-coded data (bad Huffman code)")
    }

    @inline(__always) func extend(_ v: Int, _ s: Int) -> Int {
        s == 0 ? 0 : v < (1 << (s - 1)) ? v - (1 << s) + 1 : v
    }

    mutating func receiveExtend(_ s: Int) -> Int { extend(bits(s), s) }

    mutating func readScan() throws {
        let length = try u16()
        let start = pos - 2
        guard start + length <= data.count, length >= 6 else { throw fail("SOS segment truncated") }
        let n = Int(data[pos])
        pos += 1
        guard n >= 1, n <= 4, length == 6 + 2 * n else {
            throw fail("bad SOS component count \(n)")
        }
        var scanComps: [Int] = []
        for _ in 0..<n {
            let id = Int(data[pos])
            guard let ci = components.firstIndex(where: { $0.id == id }) else {
                throw fail("SOS names unknown component \(id)")
            }
            components[ci].dcTable = Int(data[pos + 1] >> 4)
            components[ci].acTable = Int(data[pos + 1] & 15)
            guard components[ci].dcTable < 4, components[ci].acTable < 4 else {
                throw fail("bad SOS table ids")
            }
            scanComps.append(ci)
            pos += 2
        }
        let ss = Int(data[pos])
        let se = Int(data[pos + 1])
        let ah = Int(data[pos + 2] >> 4)
        let al = Int(data[pos + 2] & 15)
        pos += 3
        if progressive {
            guard ss <= se, se < 64, (ss == 0) == (se == 0), ss == 0 || n == 1, al < 14 else {
                throw fail("bad progressive scan parameters Ss=\(ss) Se=\(se) Ah=\(ah) Al=\(al)")
            }
        }
        for ci in scanComps {
            let c = components[ci]
            if !progressive || ss == 0 && ah == 0 {
                guard dcTables[c.dcTable] != nil else {
                    throw fail("scan uses undefined DC table \(c.dcTable)")
                }
            }
            if !progressive || ss > 0 {
                guard acTables[c.acTable] != nil else {
                    throw fail("scan uses undefined AC table \(c.acTable)")
                }
            }
        }
        bitBuffer = 0
        bitCount = 0
        hitMarker = false
        eobrun = 0
        for ci in scanComps { components[ci].dcPred = 0 }
        let single = scanComps.count == 1
        let unitsX = single ? components[scanComps[0]].blocksWide : mcusX
        let unitsY = single ? components[scanComps[0]].blocksHigh : mcusY
        let total = unitsX * unitsY
        var restartsLeft = restartInterval
        for unit in 0..<total {
            if restartInterval > 0 {
                if restartsLeft == 0 {
                    try restart()
                    for ci in scanComps { components[ci].dcPred = 0 }
                    restartsLeft = restartInterval
                }
                restartsLeft -= 1
            }
            let ux = unit % unitsX
            let uy = unit / unitsX
            if single {
                try decodeBlock(scanComps[0], bx: ux, by: uy, ss: ss, se: se, ah: ah, al: al)
            } else {
                for ci in scanComps {
                    let c = components[ci]
                    for v in 0..<c.v {
                        for h in 0..<c.h {
                            try decodeBlock(
                                ci, bx: ux * c.h + h, by: uy * c.v + v, ss: ss, se: se, ah: ah,
                                al: al)
                        }
                    }
                }
            }
        }
        // Leave `pos` at the next marker; bytes the bit buffer prefetched are data, not markers.
        while pos < data.count {
            if data[pos] == 0xFF, pos + 1 < data.count, data[pos + 1] != 0,
                !(0xD0...0xD7).contains(data[pos + 1])
            {
                break
            }
            pos += 1
        }
    }

    mutating func restart() throws {
        bitBuffer = 0
        bitCount = 0
        hitMarker = false
        eobrun = 0
        // Find the RSTn marker; libjpeg resynchronises on whatever RST it finds.
        while pos + 1 < data.count && !(data[pos] == 0xFF && (0xD0...0xD7).contains(data[pos + 1]))
        {
            pos += 1
        }
        guard pos + 1 < data.count else { throw fail("truncated file (missing restart marker)") }
        pos += 2
    }

    mutating func decodeBlock(_ ci: Int, bx: Int, by: Int, ss: Int, se: Int, ah: Int, al: Int)
        throws
    {
        let c = components[ci]
        guard bx < c.stride, by < c.rowsStored else { return }
        let base = (by * c.stride + bx) * 64
        if !progressive {
            guard let dcTable = dcTables[c.dcTable] else { throw fail("undefined DC table") }
            guard let ac = acTables[c.acTable] else { throw fail("undefined AC table") }
            let t = try huff(dcTable)
            guard t <= 16 else { throw fail("corrupt DC coefficient") }
            let pred = components[ci].dcPred &+ Int32(receiveExtend(t))
            components[ci].dcPred = pred
            components[ci].coefficients[base] = pred
            var k = 1
            while k < 64 {
                let rs = try huff(ac)
                let r = rs >> 4
                let s = rs & 15
                if s == 0 {
                    if r != 15 { break }
                    k += 16
                    continue
                }
                k += r
                guard k < 64 else { throw fail("corrupt AC coefficients (run past the block)") }
                components[ci].coefficients[base + zigzag[k]] = Int32(receiveExtend(s))
                k += 1
            }
            return
        }
        if ss == 0 {
            if ah == 0 {
                guard let dcTable = dcTables[c.dcTable] else { throw fail("undefined DC table") }
                let t = try huff(dcTable)
                guard t <= 16 else { throw fail("corrupt DC coefficient") }
                let pred = components[ci].dcPred &+ Int32(receiveExtend(t))
                components[ci].dcPred = pred
                components[ci].coefficients[base] = pred << Int32(al)
            } else if bit() == 1 {
                components[ci].coefficients[base] |= Int32(1 << al)
            }
            return
        }
        guard let ac = acTables[c.acTable] else { throw fail("scan uses undefined AC table") }
        if ah == 0 {
            if eobrun > 0 {
                eobrun -= 1
                return
            }
            var k = ss
            while k <= se {
                let rs = try huff(ac)
                let r = rs >> 4
                let s = rs & 15
                if s == 0 {
                    if r < 15 {
                        eobrun = (1 << r) - 1
                        if r > 0 { eobrun += bits(r) }
                        break
                    }
                    k += 16
                    continue
                }
                k += r
                guard k < 64 else { throw fail("corrupt AC coefficients (run past the block)") }
                components[ci].coefficients[base + zigzag[k]] = Int32(receiveExtend(s) * (1 << al))
                k += 1
            }
            return
        }
        // Successive approximation refinement of AC coefficients (T.81 G.1.2.3).
        let p1 = Int32(1 << al)
        let m1 = Int32(-1) << Int32(al)
        var k = ss
        if eobrun == 0 {
            while k <= se {
                let rs = try huff(ac)
                var r = rs >> 4
                var s = Int32(rs & 15)
                if s != 0 {
                    s = bit() == 1 ? p1 : m1
                } else if r != 15 {
                    eobrun = 1 << r
                    if r > 0 { eobrun += bits(r) }
                    break
                }
                repeat {
                    let z = base + zigzag[k]
                    let coef = components[ci].coefficients[z]
                    if coef != 0 {
                        if bit() == 1 && coef & p1 == 0 {
                            components[ci].coefficients[z] = coef >= 0 ? coef + p1 : coef + m1
                        }
                    } else {
                        r -= 1
                        if r < 0 { break }
                    }
                    k += 1
                } while k <= se
                if s != 0 {
                    guard k < 64 else { throw fail("corrupt refinement scan") }
                    components[ci].coefficients[base + zigzag[k]] = s
                }
                k += 1
            }
        }
        if eobrun > 0 {
            while k <= se {
                let z = base + zigzag[k]
                let coef = components[ci].coefficients[z]
                if coef != 0 && bit() == 1 && coef & p1 == 0 {
                    components[ci].coefficients[z] = coef >= 0 ? coef + p1 : coef + m1
                }
                k += 1
            }
            eobrun -= 1
        }
    }

    // MARK: reconstruction

    /// libjpeg's jpeg_idct_islow on one block, writing 8x8 samples at `out[o + y*stride + x]`.
    func idct(
        _ coef: UnsafePointer<Int32>, _ q: UnsafePointer<Int32>, _ out: UnsafeMutablePointer<UInt8>,
        _ stride: Int
    ) {
        let constBits = 13
        let pass1 = 2
        var ws = [Int](repeating: 0, count: 64)
        @inline(__always) func descale(_ x: Int, _ n: Int) -> Int { (x + (1 << (n - 1))) >> n }
        for col in 0..<8 {
            // Clamping only touches corrupt data (valid products stay below 2^27) and keeps
            // the butterfly inside Int64.
            let d = (0..<8).map {
                min(max(Int(coef[$0 * 8 + col]) * Int(q[$0 * 8 + col]), -(1 << 30)), 1 << 30)
            }
            if d[1] == 0 && d[2] == 0 && d[3] == 0 && d[4] == 0 && d[5] == 0 && d[6] == 0
                && d[7] == 0
            {
                for r in 0..<8 { ws[r * 8 + col] = d[0] << pass1 }
                continue
            }
            let o = Self.butterfly(d, constBits: constBits)
            for r in 0..<8 { ws[r * 8 + col] = descale(o[r], constBits - pass1) }
        }
        for row in 0..<8 {
            let d = Array(ws[(row * 8)..<(row * 8 + 8)])
            let o = Self.butterfly(d, constBits: constBits)
            for x in 0..<8 {
                var v = descale(o[x], constBits + pass1 + 3) & 1023
                if v >= 512 { v -= 1024 }
                out[row * stride + x] = UInt8(min(max(v + 128, 0), 255))
            }
        }
    }

    /// The even/odd butterfly of jidctint.c (before descaling); returns the 8 outputs.
    static func butterfly(_ d: [Int], constBits: Int) -> [Int] {
        var z2 = d[2]
        var z3 = d[6]
        var z1 = (z2 + z3) * 4433
        let t2e = z1 + z3 * -15137
        let t3e = z1 + z2 * 6270
        z2 = d[0]
        z3 = d[4]
        let t0e = (z2 + z3) << constBits
        let t1e = (z2 - z3) << constBits
        let t10 = t0e + t3e
        let t13 = t0e - t3e
        let t11 = t1e + t2e
        let t12 = t1e - t2e
        var t0 = d[7]
        var t1 = d[5]
        var t2 = d[3]
        var t3 = d[1]
        z1 = t0 + t3
        z2 = t1 + t2
        z3 = t0 + t2
        var z4 = t1 + t3
        let z5 = (z3 + z4) * 9633
        t0 *= 2446
        t1 *= 16819
        t2 *= 25172
        t3 *= 12299
        z1 *= -7373
        z2 *= -20995
        z3 *= -16069
        z4 *= -3196
        z3 += z5
        z4 += z5
        t0 += z1 + z3
        t1 += z2 + z4
        t2 += z2 + z3
        t3 += z1 + z4
        return [t10 + t3, t11 + t2, t12 + t1, t13 + t0, t13 - t0, t12 - t1, t11 - t2, t10 - t3]
    }

    mutating func output() throws -> PixelImage {
        // Per component: samples of its own (downsampled) size.
        var planes: [[UInt8]] = []
        var planeSizes: [(Int, Int)] = []
        for c in components {
            let pw = c.stride * 8
            let ph = c.rowsStored * 8
            var plane = [UInt8](repeating: 0, count: pw * ph)
            let q = quant[c.tq]
            c.coefficients.withUnsafeBufferPointer { cf in
                q.withUnsafeBufferPointer { qp in
                    plane.withUnsafeMutableBufferPointer { pl in
                        // The planes and the 64-entry table are never empty.
                        guard let cb = cf.baseAddress, let qb = qp.baseAddress,
                            let pb = pl.baseAddress
                        else { return }
                        for by in 0..<c.rowsStored {
                            for bx in 0..<c.stride {
                                idct(
                                    cb + (by * c.stride + bx) * 64, qb, pb + by * 8 * pw + bx * 8,
                                    pw)
                            }
                        }
                    }
                }
            }
            planes.append(plane)
            planeSizes.append((pw, ph))
        }
        let n = components.count
        // Upsample each component to full resolution (width x height).
        var full: [[UInt8]] = []
        for (i, c) in components.enumerated() {
            let (pw, _) = planeSizes[i]
            let cw = (width * c.h + hmax - 1) / hmax
            let ch = (height * c.v + vmax - 1) / vmax
            let fx = hmax / c.h
            let fy = vmax / c.v
            let p = planes[i]
            var out = [UInt8](repeating: 0, count: width * height)
            if fx == 1 && fy == 1 {
                for y in 0..<height { for x in 0..<width { out[y * width + x] = p[y * pw + x] } }
            } else if fx == 2 && fy == 1 && cw > 2 && hmax % c.h == 0 {
                // jdsample.c h2v1_fancy_upsample.
                for y in 0..<height {
                    let row = y * pw
                    for x in 0..<width {
                        let sx = x >> 1
                        let v = 3 * Int(p[row + sx])
                        let r: Int
                        if x & 1 == 0 {
                            r = sx == 0 ? Int(p[row]) : (v + Int(p[row + sx - 1]) + 1) >> 2
                        } else {
                            r =
                                sx == cw - 1
                                ? Int(p[row + sx]) : (v + Int(p[row + sx + 1]) + 2) >> 2
                        }
                        out[y * width + x] = UInt8(r)
                    }
                }
            } else if fx == 2 && fy == 2 && cw > 2 {
                // jdsample.c h2v2_fancy_upsample, context rows replicated at the image edges.
                for y in 0..<height {
                    let sy = y >> 1
                    let ny = y & 1 == 0 ? max(sy - 1, 0) : min(sy + 1, ch - 1)
                    func colsum(_ sx: Int) -> Int {
                        3 * Int(p[sy * pw + sx]) + Int(p[ny * pw + sx])
                    }
                    for x in 0..<width {
                        let sx = x >> 1
                        let t = colsum(sx)
                        let r: Int
                        if x & 1 == 0 {
                            r = sx == 0 ? (t * 4 + 8) >> 4 : (t * 3 + colsum(sx - 1) + 8) >> 4
                        } else {
                            r = sx == cw - 1 ? (t * 4 + 7) >> 4 : (t * 3 + colsum(sx + 1) + 7) >> 4
                        }
                        out[y * width + x] = UInt8(r)
                    }
                }
            } else {
                // Other factors: sample replication (libjpeg's int_upsample).
                for y in 0..<height {
                    for x in 0..<width {
                        out[y * width + x] = p[(y * c.v / vmax) * pw + x * c.h / hmax]
                    }
                }
            }
            full.append(out)
        }
        if n == 1 {
            return PixelImage(width: width, height: height, channels: 1, bytes: full[0])
        }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        let isRGB = adobeTransform == 0 || (components.map(\.id) == [82, 71, 66])  // 'R','G','B'
        let scale = 16
        let half = 1 << (scale - 1)
        func fix(_ x: Double) -> Int { Int(x * Double(1 << scale) + 0.5) }
        let crR = (0..<256).map { (fix(1.40200) * ($0 - 128) + half) >> scale }
        let cbB = (0..<256).map { (fix(1.77200) * ($0 - 128) + half) >> scale }
        let crG = (0..<256).map { -fix(0.71414) * ($0 - 128) }
        let cbG = (0..<256).map { -fix(0.34414) * ($0 - 128) + half }
        @inline(__always) func clamp(_ v: Int) -> UInt8 { UInt8(min(max(v, 0), 255)) }
        for i in 0..<(width * height) {
            let y = Int(full[0][i])
            let cb = Int(full[1][i])
            let cr = Int(full[2][i])
            if isRGB {
                rgb[3 * i] = UInt8(y)
                rgb[3 * i + 1] = UInt8(cb)
                rgb[3 * i + 2] = UInt8(cr)
            } else {
                rgb[3 * i] = clamp(y + crR[cr])
                rgb[3 * i + 1] = clamp(y + ((cbG[cb] + crG[cr]) >> scale))
                rgb[3 * i + 2] = clamp(y + cbB[cb])
            }
        }
        return PixelImage(width: width, height: height, channels: 3, bytes: rgb)
    }
}
