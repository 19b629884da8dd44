// Gzip (RFC 1952), zlib (RFC 1950) and DEFLATE (RFC 1951) decompression in pure Swift (PNG
// images, the gzipped CLIP BPE vocabulary): Foundation on Linux has no zlib API, and a pure
// decoder needs no system package. The compressor lives in Deflater.swift.
import LatticeTensor

/// Raw DEFLATE streams (RFC 1951).
public enum Deflate {
    /// Decompresses one raw DEFLATE stream; `source` names the input in error messages.
    public static func decompress(_ data: [UInt8], source: String = "deflate data") throws
        -> [UInt8]
    {
        var out: [UInt8] = []
        out.reserveCapacity(data.count * 3)
        var inflater = Inflater(data: data, position: 0, source: source)
        try inflater.inflate(into: &out)
        return out
    }
}

/// zlib streams (RFC 1950): a 2-byte header, a DEFLATE stream and an Adler-32 trailer.
public enum Zlib {
    /// Decompresses a zlib stream and checks its Adler-32; `source` names the input in errors.
    public static func decompress(_ data: [UInt8], source: String = "zlib data") throws -> [UInt8] {
        func fail(_ why: String) -> LatticeError { LatticeError(.invalidFile, "\(source): \(why)") }
        guard data.count >= 6 else { throw fail("zlib stream truncated (\(data.count) bytes)") }
        let cmf = Int(data[0])
        let flg = Int(data[1])
        guard cmf & 15 == 8, (cmf << 8 | flg) % 31 == 0 else {
            throw fail("bad zlib header \(String(cmf, radix: 16)) \(String(flg, radix: 16))")
        }
        guard flg & 0x20 == 0 else { throw fail("zlib preset dictionaries are not supported") }
        var out: [UInt8] = []
        out.reserveCapacity(data.count * 3)
        var inflater = Inflater(data: data, position: 2, source: source)
        try inflater.inflate(into: &out)
        let q = inflater.bytePosition
        guard q + 4 <= data.count else { throw fail("zlib stream truncated (no Adler-32)") }
        let stored =
            UInt32(data[q]) << 24 | UInt32(data[q + 1]) << 16 | UInt32(data[q + 2]) << 8
            | UInt32(data[q + 3])
        guard adler32(out) == stored else { throw fail("Adler-32 mismatch (corrupt data)") }
        return out
    }

    /// Adler-32 checksum of `bytes`.
    public static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1
        var b: UInt32 = 0
        var i = 0
        let n = bytes.count
        bytes.withUnsafeBufferPointer { p in
            while i < n {
                // 5552 is the largest block for which b cannot overflow 32 bits before the modulo.
                let end = min(n, i + 5552)
                while i < end {
                    a &+= UInt32(p[i])
                    b &+= a
                    i += 1
                }
                a %= 65521
                b %= 65521
            }
        }
        return b << 16 | a
    }
}

/// CRC-32 (IEEE 802.3, reflected), as used by gzip and PNG.
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// Continues a CRC-32 over `bytes` (start with `crc = 0`).
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c = crc ^ 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }

    /// CRC-32 of `bytes`.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        if let r = bytes.withContiguousStorageIfAvailable({ update(0, UnsafeRawBufferPointer($0)) })
        {
            return r
        }
        return Array(bytes).withUnsafeBytes { update(0, $0) }
    }
}

/// Decompresses gzip files (all members, CRC-32 and length checked).
public enum Gzip {
    /// Returns the decompressed bytes of every gzip member in `data`; `source` names the input
    /// in error messages.
    public static func decompress(_ data: [UInt8], source: String = "gzip data") throws -> [UInt8] {
        var out: [UInt8] = []
        var pos = 0
        repeat {
            pos = try member(data, at: pos, into: &out, source: source)
        } while pos < data.count && data[pos] == 0x1f
        return out
    }

    /// Decodes one member starting at `start`, appending to `out`; returns the end offset.
    private static func member(
        _ data: [UInt8], at start: Int, into out: inout [UInt8], source: String
    ) throws -> Int {
        func fail(_ why: String) -> LatticeError { LatticeError(.invalidFile, "\(source): \(why)") }
        guard data.count - start >= 18, data[start] == 0x1f, data[start + 1] == 0x8b else {
            throw fail("not a gzip stream (bad magic bytes)")
        }
        guard data[start + 2] == 8 else {
            throw fail("unsupported compression method \(data[start + 2])")
        }
        let flags = data[start + 3]
        var p = start + 10
        if flags & 0x04 != 0 {  // FEXTRA
            guard p + 2 <= data.count else { throw fail("truncated header") }
            p += 2 + Int(data[p]) | Int(data[p + 1]) << 8
        }
        for bit: UInt8 in [0x08, 0x10] where flags & bit != 0 {  // FNAME, FCOMMENT
            while p < data.count && data[p] != 0 { p += 1 }
            p += 1
        }
        if flags & 0x02 != 0 { p += 2 }  // FHCRC
        guard p < data.count else { throw fail("truncated header") }
        let first = out.count
        var inflater = Inflater(data: data, position: p, source: source)
        try inflater.inflate(into: &out)
        var q = inflater.bytePosition
        guard q + 8 <= data.count else { throw fail("missing CRC-32/length trailer") }
        func le32(_ i: Int) -> UInt32 {
            UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16
                | UInt32(data[i + 3]) << 24
        }
        let crc = le32(q)
        let size = le32(q + 4)
        q += 8
        guard UInt32(truncatingIfNeeded: out.count - first) == size else {
            throw fail("length \(out.count - first) does not match the trailer's \(size)")
        }
        guard CRC32.checksum(out[first...]) == crc else {
            throw fail("CRC-32 mismatch (corrupt data)")
        }
        return q
    }

}

/// A canonical Huffman decoder: a direct lookup table indexed by the next `maxLength` bits
/// (LSB-first), each entry holding `symbol << 4 | codeLength`.
struct Huffman {
    var table: [UInt32]
    var maxLength: Int

    init(lengths: [Int], source: String) throws {
        maxLength = max(lengths.max() ?? 0, 1)
        table = [UInt32](repeating: 0, count: 1 << maxLength)
        var count = [Int](repeating: 0, count: 16)
        for l in lengths where l > 0 { count[l] += 1 }
        var next = [Int](repeating: 0, count: 16)
        var code = 0
        for bits in 1...15 {
            code = (code + count[bits - 1]) << 1
            next[bits] = code
        }
        for (symbol, l) in lengths.enumerated() where l > 0 {
            let c = next[l]
            next[l] += 1
            guard c < (1 << l) else {
                throw LatticeError(.invalidFile, "\(source): over-subscribed Huffman code")
            }
            var reversed = 0
            for i in 0..<l where c & (1 << i) != 0 { reversed |= 1 << (l - 1 - i) }
            var i = reversed
            while i < table.count {
                table[i] = UInt32(symbol << 4 | l)
                i += 1 << l
            }
        }
    }
}

/// DEFLATE decoder over a byte array with an LSB-first bit buffer.
struct Inflater {
    let data: [UInt8]
    let source: String
    var position: Int
    var bitBuffer: UInt64 = 0
    var bitCount = 0

    init(data: [UInt8], position: Int, source: String) {
        self.data = data
        self.position = position
        self.source = source
    }

    /// Offset of the first byte after the stream (whole bytes left in the buffer are returned).
    var bytePosition: Int { position - bitCount / 8 }

    func fail(_ why: String) -> LatticeError { LatticeError(.invalidFile, "\(source): \(why)") }

    mutating func refill() {
        while bitCount <= 56 {
            // Past the end we feed zeros; `bits` checks that no real read goes past the data.
            let byte = position < data.count ? UInt64(data[position]) : 0
            bitBuffer |= byte << UInt64(bitCount)
            bitCount += 8
            position += 1
        }
    }

    mutating func bits(_ n: Int) throws -> Int {
        if n == 0 { return 0 }
        if bitCount < n { refill() }
        let v = Int(bitBuffer & ((1 << UInt64(n)) - 1))
        bitBuffer >>= UInt64(n)
        bitCount -= n
        if position - bitCount / 8 > data.count + 8 { throw fail("truncated DEFLATE stream") }
        return v
    }

    mutating func decode(_ h: Huffman) throws -> Int {
        if bitCount < h.maxLength { refill() }
        let entry = h.table[Int(bitBuffer & ((1 << UInt64(h.maxLength)) - 1))]
        let l = Int(entry & 15)
        guard l > 0 else { throw fail("invalid Huffman code") }
        guard position - (bitCount - l) / 8 <= data.count + 8 else {
            throw fail("truncated DEFLATE stream")
        }
        bitBuffer >>= UInt64(l)
        bitCount -= l
        return Int(entry >> 4)
    }

    static let lengthBase = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ]
    static let lengthExtra = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
    ]
    static let distBase = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ]
    static let distExtra = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
        13,
        13,
    ]

    mutating func inflate(into out: inout [UInt8]) throws {
        var last = false
        while !last {
            last = try bits(1) == 1
            switch try bits(2) {
            case 0: try stored(into: &out)
            case 1:
                let lit = (0..<288).map { $0 < 144 ? 8 : $0 < 256 ? 9 : $0 < 280 ? 7 : 8 }
                try codes(
                    lit: Huffman(lengths: lit, source: source),
                    dist: Huffman(lengths: [Int](repeating: 5, count: 30), source: source),
                    into: &out)
            case 2:
                let (lit, dist) = try dynamicTables()
                try codes(lit: lit, dist: dist, into: &out)
            default: throw fail("invalid DEFLATE block type 3")
            }
        }
        // Drop the partial byte so `bytePosition` lands on the trailer.
        let drop = bitCount % 8
        bitBuffer >>= UInt64(drop)
        bitCount -= drop
    }

    mutating func stored(into out: inout [UInt8]) throws {
        let drop = bitCount % 8
        bitBuffer >>= UInt64(drop)
        bitCount -= drop
        let len = try bits(16)
        let nlen = try bits(16)
        guard len == ~nlen & 0xFFFF else { throw fail("stored block length check failed") }
        // Whole bytes still in the bit buffer come first, then a straight copy from the input.
        var remaining = len
        while remaining > 0 && bitCount >= 8 {
            out.append(UInt8(try bits(8)))
            remaining -= 1
        }
        guard position + remaining <= data.count else { throw fail("truncated stored block") }
        out.append(contentsOf: data[position..<(position + remaining)])
        position += remaining
    }

    mutating func dynamicTables() throws -> (Huffman, Huffman) {
        let hlit = try bits(5) + 257
        let hdist = try bits(5) + 1
        let hclen = try bits(4) + 4
        let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
        var clen = [Int](repeating: 0, count: 19)
        for i in 0..<hclen { clen[order[i]] = try bits(3) }
        let codeLengths = try Huffman(lengths: clen, source: source)
        var lengths: [Int] = []
        while lengths.count < hlit + hdist {
            let sym = try decode(codeLengths)
            switch sym {
            case 0..<16: lengths.append(sym)
            case 16:
                guard let prev = lengths.last else { throw fail("repeat with no previous length") }
                lengths += [Int](repeating: prev, count: 3 + (try bits(2)))
            case 17: lengths += [Int](repeating: 0, count: 3 + (try bits(3)))
            default: lengths += [Int](repeating: 0, count: 11 + (try bits(7)))
            }
        }
        guard lengths.count == hlit + hdist else { throw fail("code lengths overrun") }
        return (
            try Huffman(lengths: Array(lengths[0..<hlit]), source: source),
            try Huffman(lengths: Array(lengths[hlit...]), source: source)
        )
    }

    mutating func codes(lit: Huffman, dist: Huffman, into out: inout [UInt8]) throws {
        while true {
            let sym = try decode(lit)
            if sym < 256 {
                out.append(UInt8(sym))
            } else if sym == 256 {
                return
            } else {
                let li = sym - 257
                guard li < 29 else { throw fail("invalid length symbol \(sym)") }
                let length = Self.lengthBase[li] + (try bits(Self.lengthExtra[li]))
                let di = try decode(dist)
                guard di < 30 else { throw fail("invalid distance symbol \(di)") }
                let distance = Self.distBase[di] + (try bits(Self.distExtra[di]))
                guard distance <= out.count else { throw fail("distance \(distance) too far back") }
                let from = out.count - distance
                // Byte by byte: the source may overlap the bytes being appended, and appending
                // a slice of `out` to itself would copy the whole array.
                for i in 0..<length { out.append(out[from + i]) }
            }
        }
    }
}
