// Tile binning of projected Gaussians (gsplat `_isect_tiles`, `_isect_offset_encode`): each
// Gaussian's screen box is split into tiles, every (camera, tile, depth) gets a 64-bit sort key,
// keys are sorted, and per-tile start offsets are encoded.

/// Sorted Gaussian/tile intersections of C cameras.
public struct TileIntersections: Sendable {
    /// Tiles per row and per column.
    public var tileWidth: Int
    public var tileHeight: Int
    public var tileSize: Int
    /// Tiles each Gaussian covers, [C, N] (0 when culled).
    public var tilesPerGauss: [Int32]
    /// Sort keys camera << (32 + tileBits) | tile << 32 | depth bits, ascending.
    public var isectIds: [Int64]
    /// C * N flat Gaussian index of each key.
    public var flattenIds: [Int32]
    /// First key of each (camera, tile), [C, tileHeight, tileWidth].
    public var offsets: [Int32]

    /// The key range of tile `tile` of camera `camera`.
    public func range(camera: Int, tile: Int) -> Range<Int> {
        let i = camera * tileWidth * tileHeight + tile
        let lo = Int(offsets[i])
        let hi = i + 1 < offsets.count ? Int(offsets[i + 1]) : isectIds.count
        return lo..<hi
    }
}

/// Bins Gaussians into tiles. `means2d` [C, N, 2], `radii` [C, N, 2], `depths` [C, N].
/// Boxes are floor/ceil of (mean ± radius) / tileSize clamped to the grid, as gsplat.
public func intersectTiles(
    means2d: [Float], radii: [Int32], depths: [Float], cameras: Int, count n: Int,
    tileSize: Int, tileWidth: Int, tileHeight: Int
) -> TileIntersections {
    let ts = Float(tileSize)
    var tilesPerGauss = [Int32](repeating: 0, count: cameras * n)
    var boxes = [(Int32, Int32, Int32, Int32)](repeating: (0, 0, 0, 0), count: cameras * n)
    for g in 0..<(cameras * n) {
        let rx = radii[g * 2]
        let ry = radii[g * 2 + 1]
        guard rx > 0, ry > 0 else { continue }
        let mx = means2d[g * 2] / ts
        let my = means2d[g * 2 + 1] / ts
        let tx = Float(rx) / ts
        let ty = Float(ry) / ts
        let x0 = min(max(Int32(floorClamped(mx - tx)), 0), Int32(tileWidth))
        let y0 = min(max(Int32(floorClamped(my - ty)), 0), Int32(tileHeight))
        let x1 = min(max(Int32(ceilClamped(mx + tx)), 0), Int32(tileWidth))
        let y1 = min(max(Int32(ceilClamped(my + ty)), 0), Int32(tileHeight))
        boxes[g] = (x0, y0, x1, y1)
        tilesPerGauss[g] = (x1 - x0) * (y1 - y0)
    }
    let tileBits = Int64((tileWidth * tileHeight).bitWidthNeeded)
    var keys: [(Int64, Int32)] = []
    keys.reserveCapacity(tilesPerGauss.reduce(0) { $0 + Int($1) })
    for g in 0..<(cameras * n) where tilesPerGauss[g] > 0 {
        let camera = Int64(g / n)
        let depthBits = Int64(Int32(bitPattern: depths[g].bitPattern))
        let (x0, y0, x1, y1) = boxes[g]
        for y in y0..<y1 {
            for x in x0..<x1 {
                let tile = Int64(y) * Int64(tileWidth) + Int64(x)
                keys.append(((camera << (32 + tileBits)) | (tile << 32) | depthBits, Int32(g)))
            }
        }
    }
    // Keys are unique unless two Gaussians share a tile and a depth; the index breaks ties.
    keys.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
    let isectIds = keys.map(\.0)
    let flattenIds = keys.map(\.1)
    let offsets = encodeTileOffsets(
        isectIds: isectIds, cameras: cameras, tileWidth: tileWidth, tileHeight: tileHeight)
    return TileIntersections(
        tileWidth: tileWidth, tileHeight: tileHeight, tileSize: tileSize,
        tilesPerGauss: tilesPerGauss, isectIds: isectIds, flattenIds: flattenIds, offsets: offsets)
}

/// Start of each (camera, tile) run in sorted keys: the exclusive cumulative count, so empty
/// tiles point at the next run ([C, tileHeight, tileWidth]).
public func encodeTileOffsets(isectIds: [Int64], cameras: Int, tileWidth: Int, tileHeight: Int)
    -> [Int32]
{
    let tiles = tileWidth * tileHeight
    let tileBits = Int64(tiles.bitWidthNeeded)
    var counts = [Int32](repeating: 0, count: cameras * tiles)
    for key in isectIds {
        let cameraTile = key >> 32
        let camera = Int(cameraTile >> tileBits)
        let tile = Int(cameraTile & ((1 << tileBits) - 1))
        counts[camera * tiles + tile] += 1
    }
    var offsets = [Int32](repeating: 0, count: cameras * tiles)
    var running: Int32 = 0
    for i in counts.indices {
        offsets[i] = running
        running += counts[i]
    }
    return offsets
}

extension Int {
    /// Python's `int.bit_length()`.
    var bitWidthNeeded: Int { self <= 0 ? 0 : Int.bitWidth - leadingZeroBitCount }
}

/// floor, saturated to the Int32 range (boxes are clamped to the grid afterwards).
@inline(__always) func floorClamped(_ x: Float) -> Float { min(max(x.rounded(.down), -1e9), 1e9) }
/// ceil, saturated to the Int32 range.
@inline(__always) func ceilClamped(_ x: Float) -> Float { min(max(x.rounded(.up), -1e9), 1e9) }
