// Coordinate hashing and rulebooks: an open-addressing hash from (batch, x, y, z) to row, the
// 3x3x3 neighbour map of a coordinate set (built once, reused by every conv at that scale), and
// a naive twin of the neighbour map for tests.
import LatticeTensor

/// Site -> row lookup of a coordinate set: a dense table over the bounding grid when it is
/// small (at most `denseLimit` cells, e.g. 64³ per item), else an open-addressing hash of the
/// packed (b, x, y, z) key.
final class CoordinateIndex: @unchecked Sendable {
    /// Empty slots hold this key.
    static let emptyKey = UInt64.max
    /// Largest dense table, in cells (16 MB of int32).
    static let denseLimit = 1 << 22
    private let keys: UnsafeMutablePointer<UInt64>
    private let rows: UnsafeMutablePointer<Int32>
    private let mask: Int
    /// Dense table extents (b, x, y, z) and cell table, when dense.
    private let extent: (Int32, Int32, Int32, Int32)
    private let dense: UnsafeMutablePointer<Int32>?
    let count: Int

    /// The first duplicate site found while indexing (earlier row, later row), if any.
    private(set) var duplicate: (first: Int, second: Int)?

    /// Packs a site into 64 bits: 10 bits per spatial axis, the batch above them.
    @inline(__always)
    static func key(_ b: Int32, _ x: Int32, _ y: Int32, _ z: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: b)) << 30 | UInt64(UInt32(bitPattern: x)) << 20
            | UInt64(UInt32(bitPattern: y)) << 10 | UInt64(UInt32(bitPattern: z))
    }

    @inline(__always)
    static func hash(_ k: UInt64) -> Int {
        // Fibonacci hashing spreads the regular lattice keys over the table.
        Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 20)
    }

    /// Indexes `count` rows of (b, x, y, z) (coordinates already range-checked to 0..<1024).
    /// A repeated site keeps its first row and is reported in `duplicate`.
    init(coords: UnsafePointer<Int32>, count: Int) {
        self.count = count
        var ext: (Int32, Int32, Int32, Int32) = (1, 1, 1, 1)
        for i in 0..<count {
            let c = coords + 4 * i
            ext = (
                Swift.max(ext.0, c[0] + 1), Swift.max(ext.1, c[1] + 1), Swift.max(ext.2, c[2] + 1),
                Swift.max(ext.3, c[3] + 1)
            )
        }
        let cells = Int(ext.0) * Int(ext.1) * Int(ext.2) * Int(ext.3)
        if cells <= CoordinateIndex.denseLimit {
            extent = ext
            let table = UnsafeMutablePointer<Int32>.allocate(capacity: cells)
            table.initialize(repeating: -1, count: cells)
            dense = table
            mask = 0
            keys = .allocate(capacity: 1)
            rows = .allocate(capacity: 1)
            for i in 0..<count {
                let c = coords + 4 * i
                let cell =
                    ((Int(c[0]) * Int(ext.1) + Int(c[1])) * Int(ext.2) + Int(c[2])) * Int(ext.3)
                    + Int(c[3])
                if table[cell] >= 0 {
                    if duplicate == nil { duplicate = (Int(table[cell]), i) }
                    continue
                }
                table[cell] = Int32(i)
            }
            return
        }
        dense = nil
        extent = (0, 0, 0, 0)
        var cap = 16
        while cap < 2 * count { cap <<= 1 }
        mask = cap - 1
        keys = .allocate(capacity: cap)
        keys.initialize(repeating: CoordinateIndex.emptyKey, count: cap)
        rows = .allocate(capacity: cap)
        rows.initialize(repeating: -1, count: cap)
        for i in 0..<count {
            let c = coords + 4 * i
            let k = CoordinateIndex.key(c[0], c[1], c[2], c[3])
            var slot = CoordinateIndex.hash(k) & mask
            while true {
                if keys[slot] == CoordinateIndex.emptyKey {
                    keys[slot] = k
                    rows[slot] = Int32(i)
                    break
                }
                if keys[slot] == k {
                    if duplicate == nil { duplicate = (Int(rows[slot]), i) }
                    break
                }
                slot = (slot + 1) & mask
            }
        }
    }

    deinit {
        keys.deallocate()
        rows.deallocate()
        dense?.deallocate()
    }

    /// Row of a site, or -1. Coordinates outside 0..<1024 are never present.
    @inline(__always)
    func find(_ b: Int32, _ x: Int32, _ y: Int32, _ z: Int32) -> Int32 {
        if (x | y | z) < 0 { return -1 }
        if let dense {
            if b < 0 || b >= extent.0 || x >= extent.1 || y >= extent.2 || z >= extent.3 {
                return -1
            }
            return dense[
                ((Int(b) * Int(extent.1) + Int(x)) * Int(extent.2) + Int(y)) * Int(extent.3)
                    + Int(z)]
        }
        if x >= 1024 || y >= 1024 || z >= 1024 { return -1 }
        let k = CoordinateIndex.key(b, x, y, z)
        var slot = CoordinateIndex.hash(k) & mask
        while true {
            let s = keys[slot]
            if s == k { return rows[slot] }
            if s == CoordinateIndex.emptyKey { return -1 }
            slot = (slot + 1) & mask
        }
    }
}

/// The rulebook of a submanifold 3x3x3 convolution: for each kernel offset k =
/// (dx+1)*9 + (dy+1)*3 + (dz+1), the pairs (input row, output row) with input = output + d.
/// Pairs of each offset are in ascending output row order.
public final class NeighbourMap: @unchecked Sendable {
    /// Kernel volume (27).
    public static let volume = 27
    /// Input rows per offset.
    public let inputs: [[Int32]]
    /// Output rows per offset (ascending).
    public let outputs: [[Int32]]
    /// Number of sites.
    public let count: Int

    init(inputs: [[Int32]], outputs: [[Int32]], count: Int) {
        self.inputs = inputs
        self.outputs = outputs
        self.count = count
    }

    /// Total number of (input, output) pairs over all offsets.
    public var pairCount: Int { inputs.reduce(0) { $0 + $1.count } }

    /// Offset (dx, dy, dz) of kernel index k.
    static func offset(_ k: Int) -> (Int32, Int32, Int32) {
        (Int32(k / 9 - 1), Int32(k / 3 % 3 - 1), Int32(k % 3 - 1))
    }

    /// Builds the map with the hash: one lookup per site and offset, rows split over threads.
    static func build(coords: UnsafePointer<Int32>, count n: Int, index: CoordinateIndex)
        -> NeighbourMap
    {
        let v = volume
        let table = UnsafeMutablePointer<Int32>.allocate(capacity: Swift.max(1, n * v))  // [N, 27]
        defer { table.deallocate() }
        Parallel.forRange(n, grain: 2048) { range in
            for i in range {
                let c = coords + 4 * i
                let row = table + i * v
                var k = 0
                for dx: Int32 in -1...1 {
                    for dy: Int32 in -1...1 {
                        for dz: Int32 in -1...1 {
                            row[k] = index.find(c[0], c[1] &+ dx, c[2] &+ dy, c[3] &+ dz)
                            k += 1
                        }
                    }
                }
            }
        }
        var ins = [[Int32]](repeating: [], count: v)
        var outs = [[Int32]](repeating: [], count: v)
        // Compaction per offset is independent: one chunk per offset.
        ins.withUnsafeMutableBufferPointer { ip in
            outs.withUnsafeMutableBufferPointer { op in
                Parallel.run(chunks: v) { k in
                    var a: [Int32] = []
                    var b: [Int32] = []
                    a.reserveCapacity(n)
                    b.reserveCapacity(n)
                    for i in 0..<n {
                        let j = table[i * v + k]
                        if j >= 0 {
                            a.append(j)
                            b.append(Int32(i))
                        }
                    }
                    ip[k] = a
                    op[k] = b
                }
            }
        }
        return NeighbourMap(inputs: ins, outputs: outs, count: n)
    }

    /// Naive twin: compares every pair of sites (O(N²)); for tests.
    static func buildNaive(coords: [Int], count n: Int) -> NeighbourMap {
        var ins = [[Int32]](repeating: [], count: volume)
        var outs = [[Int32]](repeating: [], count: volume)
        for i in 0..<n {
            for j in 0..<n where coords[4 * i] == coords[4 * j] {
                let d = (1...3).map { coords[4 * j + $0] - coords[4 * i + $0] }
                if d.allSatisfy({ abs($0) <= 1 }) {
                    let k = (d[0] + 1) * 9 + (d[1] + 1) * 3 + (d[2] + 1)
                    ins[k].append(Int32(j))
                    outs[k].append(Int32(i))
                }
            }
        }
        return NeighbourMap(inputs: ins, outputs: outs, count: n)
    }
}

extension NeighbourMap {
    /// Builds the hash and the map of `x` from scratch, bypassing the cache (for benchmarks).
    public static func build(for x: SparseTensor) -> NeighbourMap {
        let index = CoordinateIndex(coords: x.coordPointer, count: x.count)
        return build(coords: x.coordPointer, count: x.count, index: index)
    }
}

extension SparseTensor {
    /// The 3x3x3 neighbour map of this tensor's sites, built on first use and cached per scale.
    public func neighbourMap() -> NeighbourMap {
        let index = coordinateIndex()
        cache.lock.lock()
        defer { cache.lock.unlock() }
        let e = cache.entry(scale)
        if let m = e.neighbours[3] { return m }
        let m = NeighbourMap.build(coords: coordPointer, count: count, index: index)
        e.neighbours[3] = m
        return m
    }
}
