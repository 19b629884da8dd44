// Sparse pooling and subdivision: SparseDownsample (scatter-mean with the zero initial value
// counted, quirk Q2), SparseUpsample (restores the cached fine sites), SparseSubdivide (8
// children, z fastest, not re-sorted, quirk Q3), as functions and parameterless modules.
import LatticeNN
import LatticeTensor

/// What a downsample leaves on the coarse tensor for the matching upsample.
final class UpsamplePairing {
    /// [N_fine, 4] int32 fine coords in their original row order.
    let coords: Tensor
    let offsets: [Int]
    let scale: [Int]
    /// [N_fine] int32: coarse row of each fine row.
    let parentIndex: Tensor

    init(coords: Tensor, offsets: [Int], scale: [Int], parentIndex: Tensor) {
        self.coords = coords
        self.offsets = offsets
        self.scale = scale
        self.parentIndex = parentIndex
    }
}

extension SparseTensor {
    /// Per-item row offsets of ascending batch indices `b` (B+1 entries).
    static func offsets(batchOf rows: UnsafePointer<Int32>, count n: Int, batchSize: Int) -> [Int] {
        var offsets = [Int](repeating: 0, count: batchSize + 1)
        for i in 0..<n { offsets[Int(rows[4 * i]) + 1] += 1 }
        for b in 0..<batchSize { offsets[b + 1] += offsets[b] }
        return offsets
    }

    /// Parent row of every row of a factor-2 downsample (the coarse row for `parentIndex`).
    /// Returns coarse coords [M, 4] and parent index [N], coarse rows ordered by
    /// code = b·X·Y·Z + x·Y·Z + y·Z + z (X, Y, Z = max + 1 over the whole batch).
    func downsamplePairing(factor f: Int) -> (coarse: [Int32], parent: [Int32]) {
        let n = count
        let c = coordPointer
        var ext = [1, 1, 1]
        for i in 0..<n {
            for a in 0..<3 { ext[a] = Swift.max(ext[a], Int(c[4 * i + 1 + a]) / f + 1) }
        }
        let (Y, Z) = (ext[1], ext[2])
        var codes = [Int](repeating: 0, count: n)
        for i in 0..<n {
            let b = Int(c[4 * i])
            let x = Int(c[4 * i + 1]) / f
            let y = Int(c[4 * i + 2]) / f
            let z = Int(c[4 * i + 3]) / f
            codes[i] = ((b * ext[0] + x) * Y + y) * Z + z
        }
        let order = (0..<n).sorted { codes[$0] < codes[$1] }
        var parent = [Int32](repeating: 0, count: n)
        var coarse: [Int32] = []
        var last = -1
        var m = -1
        for i in order {
            if codes[i] != last {
                last = codes[i]
                m += 1
                coarse += [
                    c[4 * i], c[4 * i + 1] / Int32(f), c[4 * i + 2] / Int32(f),
                    c[4 * i + 3] / Int32(f),
                ]
            }
            parent[i] = Int32(m)
        }
        return (coarse, parent)
    }
}

/// SparseDownsample(factor): coord' = coord // factor; each parent's feature is
/// Σ children / (n_children + 1) (upstream scatter_reduce 'mean' counts the zero start, Q2).
/// The fine sites and the parent index are cached on the result for `sparseUpsample`.
public func sparseDownsample(_ x: SparseTensor, factor: Int = 2) -> SparseTensor {
    precondition(factor >= 1, "sparseDownsample: factor \(factor) must be positive")
    let (coarse, parent) = x.downsamplePairing(factor: factor)
    let m = coarse.count / 4
    let coords = Tensor(int32: coarse, shape: [m, 4])  // [M, 4]
    let parentIndex = Tensor(int32: parent, shape: [x.count])  // [N]
    var counts = [Float](repeating: 1, count: m)  // the zero start counts once
    for p in parent { counts[Int(p)] += 1 }
    let feats = x.feats.rank == 2 ? x.feats : x.feats.flatten(from: 1)
    let width = feats.shape[1]
    let sums = Tensor(zeros: [m, width]).scatterAdd(axis: 0, index: parentIndex, source: feats)
    let inv = Tensor(counts.map { 1 / $0 }, shape: [m, 1])  // [M, 1]
    var out = sums * inv  // [M, C]
    if x.feats.rank != 2 { out = out.reshape([m] + x.feats.shape.dropFirst()) }
    let scale = x.scale.map { $0 * factor }
    let offsets = SparseTensor.offsets(
        batchOf: coords.pointer(as: Int32.self), count: m, batchSize: x.batchSize)
    let pairing = UpsamplePairing(
        coords: x.coords, offsets: x.offsets, scale: x.scale, parentIndex: parentIndex)
    x.cache.lock.lock()
    x.cache.entry(scale).upsample[factor] = pairing
    x.cache.lock.unlock()
    return SparseTensor(
        validatedCoords: coords, feats: out, batchSize: x.batchSize, offsets: offsets, scale: scale,
        cache: x.cache)
}

extension SparseTensor {
    /// For a tensor made by `sparseDownsample(_, factor:)`: the coarse row of each fine row,
    /// [N_fine] int32 (upstream caches it as `upsample_{factor}_idx`); nil otherwise.
    public func downsampleParentIndex(factor: Int = 2) -> Tensor? {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        return cache.entry(scale).upsample[factor]?.parentIndex
    }
}

/// SparseUpsample(factor): restores the sites cached by the matching `sparseDownsample` in
/// their original order and copies each parent's feature to its children. Throws when `x` was
/// not produced by a downsample of this factor (or a `replacing` of one).
public func sparseUpsample(_ x: SparseTensor, factor: Int = 2) throws -> SparseTensor {
    x.cache.lock.lock()
    let pairing = x.cache.entry(x.scale).upsample[factor]
    x.cache.lock.unlock()
    guard let pairing else {
        throw LatticeError(
            .invalidArgument,
            "sparseUpsample: no downsample by \(factor) was cached for this tensor (scale \(x.scale)); upsampling must pair with an earlier downsample"
        )
    }
    let feats = x.feats.indexSelect(axis: 0, index: pairing.parentIndex)  // [N_fine, C]
    return SparseTensor(
        validatedCoords: pairing.coords, feats: feats, batchSize: x.batchSize,
        offsets: pairing.offsets, scale: pairing.scale, cache: x.cache)
}

/// SparseSubdivide: row r becomes rows 8r..8r+7 at (2x+i, 2y+j, 2z+k), (i, j, k) with z
/// fastest, features copied; the output is not re-sorted (Q3). Throws when a child would lie
/// outside the 1024 grid.
public func sparseSubdivide(_ x: SparseTensor) throws -> SparseTensor {
    let n = x.count
    let c = x.coordPointer
    let coords = Tensor(empty: [8 * n, 4], dtype: .int32)  // [8N, 4]
    let p = coords.pointer(as: Int32.self)
    var rows = [Int32](repeating: 0, count: 8 * n)
    for r in 0..<n {
        for child in 0..<8 {
            let o = p + 4 * (8 * r + child)
            o[0] = c[4 * r]
            o[1] = 2 * c[4 * r + 1] + Int32(child >> 2)
            o[2] = 2 * c[4 * r + 2] + Int32((child >> 1) & 1)
            o[3] = 2 * c[4 * r + 3] + Int32(child & 1)
            if o[1] >= SparseTensor.maxExtent || o[2] >= SparseTensor.maxExtent
                || o[3] >= SparseTensor.maxExtent
            {
                throw LatticeError(
                    .invalidArgument,
                    "sparseSubdivide: row \(r) at (\(c[4 * r + 1]), \(c[4 * r + 2]), \(c[4 * r + 3])) would leave the 0..<\(SparseTensor.maxExtent) grid"
                )
            }
            rows[8 * r + child] = Int32(r)
        }
    }
    let feats = x.feats.indexSelect(axis: 0, index: Tensor(int32: rows, shape: [8 * n]))
    // A new coordinate set: it gets its own cache.
    return SparseTensor(
        validatedCoords: coords, feats: feats, batchSize: x.batchSize,
        offsets: x.offsets.map { 8 * $0 },
        scale: x.scale, cache: SpatialCache())
}

/// TRELLIS `SparseDownsample(factor)`.
public final class SparseDownsample: Module, @unchecked Sendable {
    public let factor: Int
    public init(_ factor: Int = 2) {
        self.factor = factor
        super.init()
    }
    public func callAsFunction(_ x: SparseTensor) -> SparseTensor {
        sparseDownsample(x, factor: factor)
    }
}

/// TRELLIS `SparseUpsample(factor)`.
public final class SparseUpsample: Module, @unchecked Sendable {
    public let factor: Int
    public init(_ factor: Int = 2) {
        self.factor = factor
        super.init()
    }
    public func callAsFunction(_ x: SparseTensor) throws -> SparseTensor {
        try sparseUpsample(x, factor: factor)
    }
}

/// TRELLIS `SparseSubdivide`.
public final class SparseSubdivide: Module, @unchecked Sendable {
    public override init() { super.init() }
    public func callAsFunction(_ x: SparseTensor) throws -> SparseTensor { try sparseSubdivide(x) }
}
