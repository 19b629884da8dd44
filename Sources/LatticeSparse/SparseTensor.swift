// SparseTensor: voxel coordinates (batch, x, y, z) with per-row features, per-item layout,
// per-item broadcasting (adaLN) and the shared spatial cache (coordinate hash, rulebooks,
// window partitions, down/upsample pairing) keyed by scale.
import Foundation
import LatticeTensor

/// A batch of sparse voxel sets: `coords [N, 4]` int32 (batch, x, y, z), each item's rows
/// contiguous and in ascending batch order, and `feats [N, C...]` (autodiff flows through feats).
public final class SparseTensor: @unchecked Sendable {
    /// Largest coordinate value plus one on every spatial axis (upstream packs 10 bits per axis).
    public static let maxExtent = 1024

    /// [N, 4] int32 contiguous (batch, x, y, z).
    public let coords: Tensor
    /// [N, C...] features.
    public let feats: Tensor
    /// Number of batch items (items may be empty).
    public let batchSize: Int
    /// Row offsets per item: item b owns rows offsets[b]..<offsets[b+1] (B+1 entries).
    public let offsets: [Int]
    /// Stride of this voxel grid relative to the finest grid of its chain (upstream `_scale`).
    public let scale: [Int]
    /// Caches shared by tensors that derive from the same coordinate chain.
    let cache: SpatialCache

    /// Validates and wraps `coords [N, 4]` int32 and `feats [N, ...]`.
    ///
    /// Throws when coords are not [N, 4] integers, feats rows differ from coords rows, batch
    /// indices are negative or not ascending, a coordinate lies outside `0..<resolution`
    /// (default 1024), or a site appears twice in one item.
    public convenience init(
        coords: Tensor, feats: Tensor, batchSize: Int? = nil, resolution: Int? = nil
    ) throws {
        guard coords.rank == 2, coords.shape[1] == 4,
            coords.dtype == .int32 || coords.dtype == .int64
        else {
            throw LatticeError(
                .shapeMismatch,
                "SparseTensor: coords must be [N, 4] int32 (batch, x, y, z), got \(coords.shape) \(coords.dtype)"
            )
        }
        guard feats.rank >= 1, feats.shape[0] == coords.shape[0] else {
            throw LatticeError(
                .shapeMismatch,
                "SparseTensor: feats \(feats.shape) must have one row per coordinate (\(coords.shape[0]))"
            )
        }
        let limit = resolution ?? SparseTensor.maxExtent
        guard limit >= 1, limit <= SparseTensor.maxExtent else {
            throw LatticeError(
                .invalidArgument,
                "SparseTensor: resolution \(limit) must be in 1...\(SparseTensor.maxExtent)")
        }
        let values = coords.toInts()
        let n = coords.shape[0]
        var last = 0
        for i in 0..<n {
            let b = values[4 * i]
            if b < 0 || b < last {
                throw LatticeError(
                    .invalidArgument,
                    "SparseTensor: batch indices must be non-negative and ascending; row \(i) has batch \(b) after \(last)"
                )
            }
            last = b
            for a in 1...3 where values[4 * i + a] < 0 || values[4 * i + a] >= limit {
                throw LatticeError(
                    .invalidArgument,
                    "SparseTensor: row \(i) coordinate \(["b", "x", "y", "z"][a]) = \(values[4 * i + a]) lies outside 0..<\(limit)"
                )
            }
        }
        let count = Swift.max(n > 0 ? last + 1 : 0, batchSize ?? 0)
        if let batchSize, batchSize < count {
            throw LatticeError(
                .invalidArgument, "SparseTensor: batch index \(last) but batchSize \(batchSize)")
        }
        var offsets = [Int](repeating: 0, count: count + 1)
        for i in 0..<n { offsets[values[4 * i] + 1] += 1 }
        for b in 0..<count { offsets[b + 1] += offsets[b] }
        let c32 = Tensor(int32: values.map { Int32($0) }, shape: [n, 4])  // [N, 4]
        // Building the hash also finds duplicate sites; every conv at this scale reuses it.
        let index = CoordinateIndex(coords: c32.pointer(as: Int32.self), count: n)
        if let (r0, r1) = index.duplicate {
            let c = (0..<4).map { values[4 * r1 + $0] }
            throw LatticeError(
                .invalidArgument,
                "SparseTensor: duplicate site (b \(c[0]), x \(c[1]), y \(c[2]), z \(c[3])) at rows \(r0) and \(r1)"
            )
        }
        let cache = SpatialCache()
        cache.entry([1, 1, 1]).index = index
        self.init(
            validatedCoords: c32, feats: feats, batchSize: count, offsets: offsets,
            scale: [1, 1, 1],
            cache: cache)
    }

    /// Wraps already validated data (derived tensors: same chain, new feats or coords).
    init(
        validatedCoords coords: Tensor, feats: Tensor, batchSize: Int, offsets: [Int], scale: [Int],
        cache: SpatialCache
    ) {
        self.coords = coords
        self.feats = feats
        self.batchSize = batchSize
        self.offsets = offsets
        self.scale = scale
        self.cache = cache
    }

    /// Number of active sites N.
    public var count: Int { coords.shape[0] }
    /// Feature channels (the size of feats' last axis).
    public var channels: Int { feats.shape.last ?? 0 }
    /// Upstream `shape`: [B, *feats.shape[1...]].
    public var shape: [Int] { [batchSize] + feats.shape.dropFirst() }
    /// Rows of batch item `b`.
    public func layout(_ b: Int) -> Range<Int> { offsets[b]..<offsets[b + 1] }
    /// Pointer to the int32 coords (read-only by convention).
    var coordPointer: UnsafePointer<Int32> { UnsafePointer(coords.pointer(as: Int32.self)) }

    /// The same sites with new features `[N, ...]` (upstream `replace`); caches are shared.
    public func replacing(feats newFeats: Tensor) -> SparseTensor {
        precondition(
            newFeats.rank >= 1 && newFeats.shape[0] == count,
            "SparseTensor.replacing: feats \(newFeats.shape) must have \(count) rows")
        return SparseTensor(
            validatedCoords: coords, feats: newFeats, batchSize: batchSize, offsets: offsets,
            scale: scale, cache: cache)
    }

    /// Applies `f` to the features (elementwise layers such as SiLU or Linear).
    public func map(_ f: (Tensor) -> Tensor) -> SparseTensor { replacing(feats: f(feats)) }

    /// Batch index of every row, [N] int32.
    public var batchIndex: Tensor {
        let t = Tensor(empty: [count], dtype: .int32)  // [N]
        let p = t.pointer(as: Int32.self)
        for b in 0..<batchSize {
            for i in layout(b) { p[i] = Int32(b) }
        }
        return t
    }

    /// Expands per-item vectors `[B, C]` to one row per site `[N, C]` (differentiable).
    public func broadcast(_ dense: Tensor) -> Tensor {
        precondition(
            dense.rank == 2 && dense.shape[0] == batchSize && dense.shape[1] == channels,
            "SparseTensor.broadcast: per-item tensor \(dense.shape) must be [\(batchSize), \(channels)]"
        )
        return dense.indexSelect(axis: 0, index: batchIndex)  // [N, C]
    }

    /// Concatenates the features of tensors on the same sites along channels.
    public static func cat(_ xs: [SparseTensor]) -> SparseTensor {
        precondition(!xs.isEmpty, "SparseTensor.cat of no tensors")
        for x in xs.dropFirst() {
            precondition(
                x.coords === xs[0].coords || x.coords.toInts() == xs[0].coords.toInts(),
                "SparseTensor.cat: tensors must share their coordinates")
        }
        return xs[0].replacing(feats: Tensor.cat(xs.map(\.feats), axis: -1))
    }

    // Per-item dense operands ([B, C]) broadcast over each item's rows; sparse ⊕ sparse acts
    // row by row on the same sites.
    public static func + (a: SparseTensor, b: Tensor) -> SparseTensor {
        a.replacing(feats: a.feats + a.operand(b))
    }
    public static func - (a: SparseTensor, b: Tensor) -> SparseTensor {
        a.replacing(feats: a.feats - a.operand(b))
    }
    public static func * (a: SparseTensor, b: Tensor) -> SparseTensor {
        a.replacing(feats: a.feats * a.operand(b))
    }
    public static func + (a: SparseTensor, b: SparseTensor) -> SparseTensor {
        precondition(a.count == b.count, "SparseTensor +: \(a.count) vs \(b.count) sites")
        return a.replacing(feats: a.feats + b.feats)
    }
    public static func * (a: SparseTensor, b: SparseTensor) -> SparseTensor {
        precondition(a.count == b.count, "SparseTensor *: \(a.count) vs \(b.count) sites")
        return a.replacing(feats: a.feats * b.feats)
    }

    /// A [B, C] operand is per item and becomes [N, C]; anything else broadcasts against feats as is.
    private func operand(_ t: Tensor) -> Tensor {
        if t.rank == 2 && t.shape[0] == batchSize && feats.rank == 2 {
            return broadcast(t)
        }
        return t
    }

    /// The coordinate hash of this tensor's sites (built once per coordinate set).
    func coordinateIndex() -> CoordinateIndex {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        let e = cache.entry(scale)
        if let idx = e.index { return idx }
        // Derived coordinate sets are duplicate-free by construction.
        let idx = CoordinateIndex(coords: coordPointer, count: count)
        e.index = idx
        return idx
    }
}

/// Cached structures for one scale of a coordinate chain.
final class ScaleCache {
    var index: CoordinateIndex?
    var neighbours: [Int: NeighbourMap] = [:]
    var windows: [String: WindowPartition] = [:]
    /// Pairing stored on the coarse tensor by a downsample, read by the matching upsample.
    var upsample: [Int: UpsamplePairing] = [:]
}

/// Caches of a coordinate chain, keyed by scale (upstream `_spatial_cache`).
final class SpatialCache: @unchecked Sendable {
    let lock = NSLock()
    private var entries: [[Int]: ScaleCache] = [:]

    /// The entry for `scale` (created on first use). Callers hold `lock` while mutating.
    func entry(_ scale: [Int]) -> ScaleCache {
        if let e = entries[scale] { return e }
        let e = ScaleCache()
        entries[scale] = e
        return e
    }
}
