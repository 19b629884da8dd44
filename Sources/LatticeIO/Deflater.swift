// DEFLATE compression (RFC 1951) in pure Swift: LZ77 over a 32 KiB window with hash chains and
// lazy matching (the zlib level-6 strategy), then per block the cheapest of dynamic Huffman,
// fixed Huffman or stored. Wrappers for zlib (PNG) and gzip streams.
import LatticeTensor

extension Deflate {
    /// Compresses `data` into one raw DEFLATE stream. `level` 1...9 trades speed for size like
    /// zlib's levels (it sets the hash-chain depth and lazy-match thresholds); 0 stores only.
    public static func compress(_ data: [UInt8], level: Int = 6) -> [UInt8] {
        var writer = BitWriter()
        writer.bytes.reserveCapacity(data.count / 2 + 64)
        DeflateEncoder(level: level).encode(data, into: &writer)
        writer.flush()
        return writer.bytes
    }
}

extension Zlib {
    /// Compresses `data` into a zlib stream (header, DEFLATE, Adler-32) at `level` 0...9.
    public static func compress(_ data: [UInt8], level: Int = 6) -> [UInt8] {
        // CMF 0x78 = deflate with a 32 KiB window; FLEVEL mirrors zlib's choice; FCHECK makes
        // the 16-bit header a multiple of 31.
        let flevel = level <= 1 ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3
        var flg = flevel << 6
        flg += 31 - (0x78 << 8 | flg) % 31
        var out: [UInt8] = [0x78, UInt8(flg & 0xFF)]
        out += Deflate.compress(data, level: level)
        let a = adler32(data)
        out += [UInt8(a >> 24), UInt8((a >> 16) & 0xFF), UInt8((a >> 8) & 0xFF), UInt8(a & 0xFF)]
        return out
    }
}

extension Gzip {
    /// Compresses `data` into a single-member gzip stream (no name, mtime 0).
    public static func compress(_ data: [UInt8], level: Int = 6) -> [UInt8] {
        var out: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]
        out += Deflate.compress(data, level: level)
        let crc = CRC32.checksum(data)
        let n = UInt32(truncatingIfNeeded: data.count)
        for v in [crc, n] {
            out += [
                UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24),
            ]
        }
        return out
    }
}

/// LSB-first bit packer.
struct BitWriter {
    var bytes: [UInt8] = []
    var buffer: UInt64 = 0
    var count = 0

    @inline(__always) mutating func write(_ value: UInt32, _ n: Int) {
        buffer |= UInt64(value) << UInt64(count)
        count += n
        if count >= 32 {
            let b = UInt32(truncatingIfNeeded: buffer)
            bytes.append(UInt8(b & 0xFF))
            bytes.append(UInt8((b >> 8) & 0xFF))
            bytes.append(UInt8((b >> 16) & 0xFF))
            bytes.append(UInt8(b >> 24))
            buffer >>= 32
            count -= 32
        }
    }

    /// Pads to a byte boundary with zero bits.
    mutating func alignToByte() {
        while count > 0 {
            bytes.append(UInt8(buffer & 0xFF))
            buffer >>= 8
            count = max(0, count - 8)
        }
        buffer = 0
    }

    mutating func flush() { alignToByte() }
}

/// Canonical Huffman code lengths limited to `limit` bits, and the bit-reversed codes.
enum HuffmanBuilder {
    /// Code lengths for `freqs` (0 for unused symbols), each at most `limit`. At least two
    /// symbols get a code, so every tree is complete and any inflater accepts it.
    static func lengths(_ freqs: [Int], limit: Int) -> [Int] {
        var f = freqs
        var used = f.indices.filter { f[$0] > 0 }
        if used.count < 2 {
            for s in 0..<f.count where f[s] == 0 && used.count < 2 {
                f[s] = 1
                used.append(s)
            }
        }
        var scale = 0
        while true {
            // Flattening the histogram (halving, keeping every used symbol at >= 1) shortens
            // the longest codes; rarely needs more than one round for DEFLATE's 15-bit limit.
            let g = f.map { $0 > 0 ? max(1, $0 >> scale) : 0 }
            let l = unlimited(g)
            if (l.max() ?? 0) <= limit { return l }
            scale += 1
        }
    }

    /// Plain Huffman code lengths (two-queue construction over sorted leaves).
    static func unlimited(_ freqs: [Int]) -> [Int] {
        let leaves = freqs.indices.filter { freqs[$0] > 0 }.sorted {
            (freqs[$0], $0) < (freqs[$1], $1)
        }
        var lengths = [Int](repeating: 0, count: freqs.count)
        if leaves.count == 1 {
            lengths[leaves[0]] = 1
            return lengths
        }
        // Nodes 0..<n are leaves (in sorted order), then internal nodes in creation order.
        let n = leaves.count
        var weight = leaves.map { freqs[$0] }
        var parent = [Int](repeating: -1, count: 2 * n - 1)
        var li = 0
        var qi = n
        func pick() -> Int {
            if li < n && (qi >= weight.count || weight[li] <= weight[qi]) {
                li += 1
                return li - 1
            }
            qi += 1
            return qi - 1
        }
        for _ in 0..<(n - 1) {
            let a = pick()
            let b = pick()
            parent[a] = weight.count
            parent[b] = weight.count
            weight.append(weight[a] + weight[b])
        }
        var depth = [Int](repeating: 0, count: 2 * n - 1)
        for node in stride(from: 2 * n - 3, through: 0, by: -1) {
            depth[node] = depth[parent[node]] + 1
        }
        for (i, s) in leaves.enumerated() { lengths[s] = depth[i] }
        return lengths
    }

    /// Canonical codes (already bit-reversed for LSB-first output) for `lengths`.
    static func codes(_ lengths: [Int]) -> [UInt32] {
        var count = [Int](repeating: 0, count: 16)
        for l in lengths where l > 0 { count[l] += 1 }
        var next = [Int](repeating: 0, count: 16)
        var code = 0
        for bits in 1...15 {
            code = (code + count[bits - 1]) << 1
            next[bits] = code
        }
        return lengths.map { l in
            guard l > 0 else { return 0 }
            let c = next[l]
            next[l] += 1
            var r: UInt32 = 0
            for i in 0..<l where c & (1 << i) != 0 { r |= 1 << UInt32(l - 1 - i) }
            return r
        }
    }
}

/// The LZ77 + Huffman encoder. Tokens are `UInt32`: a literal byte is `byte`, a match is
/// `distance << 9 | length` (distance >= 1, so matches are >= 512).
struct DeflateEncoder {
    let maxChain: Int
    let goodLength: Int
    let niceLength: Int
    let maxLazy: Int
    let storeOnly: Bool

    static let windowSize = 32768
    static let hashBits = 15
    static let blockTokens = 1 << 15

    init(level: Int) {
        // zlib's configuration table for levels 1...9 (good, lazy, nice, chain).
        let table: [(Int, Int, Int, Int)] = [
            (0, 0, 0, 0), (4, 4, 8, 4), (4, 5, 16, 8), (4, 6, 32, 32), (4, 4, 16, 16),
            (8, 16, 32, 32), (8, 16, 128, 128), (8, 32, 128, 256), (32, 128, 258, 1024),
            (32, 258, 258, 4096),
        ]
        let l = min(max(level, 0), 9)
        (goodLength, maxLazy, niceLength, maxChain) = table[l]
        storeOnly = l == 0
    }

    static let lengthSymbol: [UInt16] = {
        var t = [UInt16](repeating: 0, count: 259)
        var code = 0
        for len in 3...258 {
            while code < 28 && len >= Inflater.lengthBase[code + 1] { code += 1 }
            t[len] = UInt16(code)
        }
        t[258] = 28
        return t
    }()

    @inline(__always) static func distanceSymbol(_ d: Int) -> Int {
        // Distance codes come in pairs per power of two above 4.
        if d <= 4 { return d - 1 }
        let v = d - 1
        let hb = Int.bitWidth - 1 - v.leadingZeroBitCount
        return 2 * hb + ((v >> (hb - 1)) & 1)
    }

    func encode(_ data: [UInt8], into w: inout BitWriter) {
        if data.isEmpty || storeOnly {
            writeStored(data, 0..<data.count, last: true, into: &w)
            return
        }
        var tokens: [UInt32] = []
        tokens.reserveCapacity(Self.blockTokens + 2)
        var blockStart = 0
        data.withUnsafeBufferPointer { buf in
            guard let p = buf.baseAddress else { return }
            let n = buf.count
            let hashSize = 1 << Self.hashBits
            var head = [Int32](repeating: -1, count: hashSize)
            var prev = [Int32](repeating: -1, count: Self.windowSize)
            head.withUnsafeMutableBufferPointer { headBuf in
                prev.withUnsafeMutableBufferPointer { prevBuf in
                    guard let head = headBuf.baseAddress, let prev = prevBuf.baseAddress else {
                        return
                    }
                    @inline(__always) func hash(_ i: Int) -> Int {
                        let v = UInt32(p[i]) << 16 | UInt32(p[i + 1]) << 8 | UInt32(p[i + 2])
                        return Int((v &* 2_654_435_761) >> UInt32(32 - Self.hashBits))
                    }
                    @inline(__always) func insert(_ i: Int) {
                        guard i + 2 < n else { return }
                        let h = hash(i)
                        prev[i & (Self.windowSize - 1)] = head[h]
                        head[h] = Int32(i)
                    }
                    // Longest match at `i` among earlier positions on its chain.
                    @inline(__always) func longest(_ i: Int, _ prevLength: Int) -> (Int, Int) {
                        let maxLen = min(258, n - i)
                        guard maxLen >= 3 else { return (0, 0) }
                        var chain = prevLength >= goodLength ? maxChain >> 2 : maxChain
                        var best = max(prevLength, 2)
                        if best >= maxLen { return (0, 0) }
                        var bestDist = 0
                        var cand = Int(prev[i & (Self.windowSize - 1)])
                        let limit = i - Self.windowSize
                        while cand >= 0 && cand > limit && chain > 0 {
                            chain -= 1
                            if p[cand + best] == p[i + best] && p[cand] == p[i]
                                && p[cand + 1] == p[i + 1]
                            {
                                var l = 2
                                while l < maxLen && p[cand + l] == p[i + l] { l += 1 }
                                if l > best {
                                    best = l
                                    bestDist = i - cand
                                    if l >= niceLength || l == maxLen { break }
                                }
                            }
                            let next = Int(prev[cand & (Self.windowSize - 1)])
                            if next >= cand { break }
                            cand = next
                        }
                        if bestDist == 0 { return (0, 0) }
                        // Short matches far back cost more than the literals (zlib's TOO_FAR).
                        if best == 3 && bestDist > 4096 { return (0, 0) }
                        return (best, bestDist)
                    }

                    var i = 0
                    var prevLen = 0
                    var prevDist = 0
                    var pending = false
                    func flushIfFull(_ upTo: Int) {
                        if tokens.count >= Self.blockTokens {
                            writeBlock(
                                tokens, data, blockStart..<upTo, last: false, into: &w)
                            tokens.removeAll(keepingCapacity: true)
                            blockStart = upTo
                        }
                    }
                    while i < n {
                        insert(i)
                        var curLen = 0
                        var curDist = 0
                        if prevLen < maxLazy || !pending {
                            (curLen, curDist) = longest(i, pending ? prevLen : 0)
                        }
                        if pending && prevLen >= 3 && curLen <= prevLen {
                            // The match found one byte back wins: emit it from i - 1.
                            tokens.append(UInt32(prevDist << 9 | prevLen))
                            let end = i - 1 + prevLen
                            var j = i + 1
                            while j < end {
                                insert(j)
                                j += 1
                            }
                            i = end
                            pending = false
                            prevLen = 0
                            flushIfFull(i)
                        } else {
                            if pending {
                                tokens.append(UInt32(p[i - 1]))
                                flushIfFull(i)
                            }
                            pending = true
                            prevLen = curLen
                            prevDist = curDist
                            i += 1
                        }
                    }
                    if pending {
                        if prevLen >= 3 {
                            tokens.append(UInt32(prevDist << 9 | prevLen))
                        } else {
                            tokens.append(UInt32(p[n - 1]))
                        }
                    }
                }
            }
        }
        writeBlock(tokens, data, blockStart..<data.count, last: true, into: &w)
    }

    func writeStored(_ data: [UInt8], _ range: Range<Int>, last: Bool, into w: inout BitWriter) {
        var start = range.lowerBound
        repeat {
            let len = min(65535, range.upperBound - start)
            let final = last && start + len == range.upperBound
            w.write(final ? 1 : 0, 1)
            w.write(0, 2)
            w.alignToByte()
            w.bytes += [
                UInt8(len & 0xFF), UInt8(len >> 8), UInt8(~len & 0xFF), UInt8((~len >> 8) & 0xFF),
            ]
            w.bytes += data[start..<(start + len)]
            start += len
        } while start < range.upperBound
    }

    static let fixedLitLengths = (0..<288).map { $0 < 144 ? 8 : $0 < 256 ? 9 : $0 < 280 ? 7 : 8 }

    func writeBlock(
        _ tokens: [UInt32], _ data: [UInt8], _ range: Range<Int>, last: Bool,
        into w: inout BitWriter
    ) {
        var litFreq = [Int](repeating: 0, count: 286)
        var distFreq = [Int](repeating: 0, count: 30)
        var extraBits = 0
        for t in tokens {
            if t < 512 {
                litFreq[Int(t)] += 1
            } else {
                let ls = Int(Self.lengthSymbol[Int(t & 511)])
                let ds = Self.distanceSymbol(Int(t >> 9))
                litFreq[257 + ls] += 1
                distFreq[ds] += 1
                extraBits += Inflater.lengthExtra[ls] + Inflater.distExtra[ds]
            }
        }
        litFreq[256] += 1
        let litLengths = HuffmanBuilder.lengths(litFreq, limit: 15)
        let distLengths = HuffmanBuilder.lengths(distFreq, limit: 15)
        let header = codeLengthHeader(litLengths, distLengths)
        func cost(_ lit: [Int], _ dist: [Int]) -> Int {
            var c = extraBits
            for s in 0..<286 { c += litFreq[s] * lit[s] }
            for s in 0..<30 { c += distFreq[s] * dist[s] }
            return c
        }
        let dynamicCost = 3 + header.bits + cost(litLengths, distLengths)
        let fixedDist = [Int](repeating: 5, count: 30)
        let fixedCost = 3 + cost(Self.fixedLitLengths, fixedDist)
        let storedCost = (range.count + 5 * (range.count / 65535 + 1)) * 8 + 8
        if storedCost <= min(dynamicCost, fixedCost) {
            writeStored(data, range, last: last, into: &w)
            return
        }
        w.write(last ? 1 : 0, 1)
        let lit: [Int]
        let dist: [Int]
        if fixedCost <= dynamicCost {
            w.write(1, 2)
            lit = Self.fixedLitLengths
            dist = fixedDist
        } else {
            w.write(2, 2)
            header.write(&w)
            lit = litLengths
            dist = distLengths
        }
        let litCodes = HuffmanBuilder.codes(lit)
        let distCodes = HuffmanBuilder.codes(dist)
        for t in tokens {
            if t < 512 {
                w.write(litCodes[Int(t)], lit[Int(t)])
            } else {
                let len = Int(t & 511)
                let d = Int(t >> 9)
                let ls = Int(Self.lengthSymbol[len])
                w.write(litCodes[257 + ls], lit[257 + ls])
                let le = Inflater.lengthExtra[ls]
                if le > 0 { w.write(UInt32(len - Inflater.lengthBase[ls]), le) }
                let ds = Self.distanceSymbol(d)
                w.write(distCodes[ds], dist[ds])
                let de = Inflater.distExtra[ds]
                if de > 0 { w.write(UInt32(d - Inflater.distBase[ds]), de) }
            }
        }
        w.write(litCodes[256], lit[256])
    }

    /// The run-length coded code lengths of a dynamic block and their own Huffman code.
    struct Header {
        var hlit: Int
        var hdist: Int
        var hclen: Int
        var clLengths: [Int]
        var clCodes: [UInt32]
        var symbols: [(Int, Int, Int)]  // (symbol, extra value, extra bits)
        var bits: Int

        func write(_ w: inout BitWriter) {
            w.write(UInt32(hlit - 257), 5)
            w.write(UInt32(hdist - 1), 5)
            w.write(UInt32(hclen - 4), 4)
            for i in 0..<hclen { w.write(UInt32(clLengths[DeflateEncoder.clOrder[i]]), 3) }
            for (s, v, b) in symbols {
                w.write(clCodes[s], clLengths[s])
                if b > 0 { w.write(UInt32(v), b) }
            }
        }
    }

    static let clOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    func codeLengthHeader(_ lit: [Int], _ dist: [Int]) -> Header {
        var hlit = 286
        while hlit > 257 && lit[hlit - 1] == 0 { hlit -= 1 }
        var hdist = 30
        while hdist > 1 && dist[hdist - 1] == 0 { hdist -= 1 }
        let all = Array(lit[0..<hlit]) + Array(dist[0..<hdist])
        var symbols: [(Int, Int, Int)] = []
        var i = 0
        while i < all.count {
            let l = all[i]
            var run = 1
            while i + run < all.count && all[i + run] == l { run += 1 }
            i += run
            if l == 0 {
                while run >= 11 {
                    let r = min(run, 138)
                    symbols.append((18, r - 11, 7))
                    run -= r
                }
                if run >= 3 {
                    symbols.append((17, run - 3, 3))
                    run = 0
                }
            } else {
                symbols.append((l, 0, 0))
                run -= 1
                while run >= 3 {
                    let r = min(run, 6)
                    symbols.append((16, r - 3, 2))
                    run -= r
                }
            }
            for _ in 0..<run { symbols.append((l, 0, 0)) }
        }
        var freq = [Int](repeating: 0, count: 19)
        for (s, _, _) in symbols { freq[s] += 1 }
        let clLengths = HuffmanBuilder.lengths(freq, limit: 7)
        var hclen = 19
        while hclen > 4 && clLengths[Self.clOrder[hclen - 1]] == 0 { hclen -= 1 }
        var bits = 14 + 3 * hclen
        for (s, _, b) in symbols { bits += clLengths[s] + b }
        return Header(
            hlit: hlit, hdist: hdist, hclen: hclen, clLengths: clLengths,
            clCodes: HuffmanBuilder.codes(clLengths), symbols: symbols, bits: bits)
    }
}
