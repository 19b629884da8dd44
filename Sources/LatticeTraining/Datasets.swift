// Occupancy datasets for the SS VAE (TRELLIS@6b0d647 trellis/datasets/sparse_structure.py:
// surface voxels -> dense [1, R, R, R] grid of 0/1): procedural shapes voxelized on demand, or
// a folder written by `lattice data shapes` (manifest.json + voxels/<id>.safetensors).
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeTensor

/// A list of voxelized shapes on an R³ grid.
public protocol VoxelDataset: AnyObject {
    /// Number of shapes.
    var count: Int { get }
    /// Grid resolution R.
    var resolution: Int { get }
    /// Occupied grid indices of shape `index`.
    func coords(_ index: Int) throws -> [SIMD3<Int32>]
}

extension VoxelDataset {
    /// Dense occupancy of `items` as float32 [B, 1, R, R, R].
    public func occupancyBatch(_ items: [Int]) throws -> Tensor {
        let r = resolution
        let cell = r * r * r
        var grid = [Float](repeating: 0, count: items.count * cell)
        for (b, item) in items.enumerated() {
            for c in try coords(item) {
                grid[b * cell + (Int(c.x) * r + Int(c.y)) * r + Int(c.z)] = 1
            }
        }
        return Tensor(grid, shape: [items.count, 1, r, r, r])  // [B, 1, R, R, R]
    }
}

/// Procedural shapes voxelized on first use (cached).
public final class ProceduralVoxelDataset: VoxelDataset {
    public let shapes: ProceduralShapes
    public let count: Int
    public let resolution: Int
    private var cache: [Int: [SIMD3<Int32>]] = [:]

    public init(shapes: ProceduralShapes, count: Int, resolution: Int) {
        self.shapes = shapes
        self.count = count
        self.resolution = resolution
    }

    public func coords(_ index: Int) throws -> [SIMD3<Int32>] {
        if let c = cache[index] { return c }
        let c = Voxelizer.voxelizeSurface(shapes.shape(index).mesh, resolution: resolution)
        cache[index] = c
        return c
    }
}

/// One entry of a `lattice data shapes` manifest.
public struct ShapeManifestItem: Codable, Sendable, Equatable {
    public var id: String
    public var kind: String
    public var parts: [String]
    public var mesh: String
    public var voxels: String
    public var numVoxels: Int

    enum CodingKeys: String, CodingKey {
        case id, kind, parts, mesh, voxels
        case numVoxels = "num_voxels"
    }

    public init(
        id: String, kind: String, parts: [String], mesh: String, voxels: String, numVoxels: Int
    ) {
        self.id = id
        self.kind = kind
        self.parts = parts
        self.mesh = mesh
        self.voxels = voxels
        self.numVoxels = numVoxels
    }
}

/// `manifest.json` of a `lattice data shapes` folder.
public struct ShapeManifest: Codable, Sendable, Equatable {
    public var seed: UInt64
    public var resolution: Int
    public var items: [ShapeManifestItem]

    public init(seed: UInt64, resolution: Int, items: [ShapeManifestItem]) {
        self.seed = seed
        self.resolution = resolution
        self.items = items
    }
}

/// Voxelized shapes from a folder written by `ShapeDatasetWriter`.
public final class FolderVoxelDataset: VoxelDataset {
    public let root: URL
    public let manifest: ShapeManifest
    public var count: Int { manifest.items.count }
    public var resolution: Int { manifest.resolution }
    private var cache: [Int: [SIMD3<Int32>]] = [:]

    public init(root: URL) throws {
        self.root = root
        let url = root.appendingPathComponent("manifest.json")
        do {
            manifest = try JSONDecoder().decode(ShapeManifest.self, from: Data(contentsOf: url))
        } catch {
            throw LatticeError(.invalidFile, "\(url.path): not a shape manifest (\(error))")
        }
    }

    public func coords(_ index: Int) throws -> [SIMD3<Int32>] {
        if let c = cache[index] { return c }
        let url = root.appendingPathComponent(manifest.items[index].voxels)
        let c = try ShapeDatasetWriter.readVoxels(url, resolution: resolution)
        cache[index] = c
        return c
    }
}

/// Writes procedural meshes (OBJ with vertex colours), their voxels (safetensors `coords`
/// int32 [N, 3]) and `manifest.json`; resumable: items whose files exist are kept.
public struct ShapeDatasetWriter: Sendable {
    public let shapes: ProceduralShapes
    public let resolution: Int

    public init(shapes: ProceduralShapes, resolution: Int = 64) {
        self.shapes = shapes
        self.resolution = resolution
    }

    /// Writes items 0..<count into `root`, skipping finished ones; `progress(done, total,
    /// skipped)` after each item. Returns the manifest (also written to root/manifest.json).
    @discardableResult
    public func write(
        count: Int, to root: URL, progress: ((Int, Int, Bool) -> Void)? = nil
    ) throws -> ShapeManifest {
        let fm = FileManager.default
        for sub in ["meshes", "voxels"] {
            try fm.createDirectory(
                at: root.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        var items: [ShapeManifestItem] = []
        for i in 0..<count {
            let id = String(format: "shape_%06d", i)
            let meshPath = "meshes/\(id).obj"
            let voxelPath = "voxels/\(id).safetensors"
            let meshURL = root.appendingPathComponent(meshPath)
            let voxelURL = root.appendingPathComponent(voxelPath)
            // Each file is renamed into place only when complete, so existence means done.
            let done = fm.fileExists(atPath: meshURL.path) && fm.fileExists(atPath: voxelURL.path)
            let shape = shapes.shape(i)
            let n: Int
            if done, let c = try? Self.readVoxels(voxelURL, resolution: resolution) {
                n = c.count
            } else {
                let coords = Voxelizer.voxelizeSurface(shape.mesh, resolution: resolution)
                try writeAtomically(Self.obj(shape.mesh), to: meshURL)
                try Safetensors.write(
                    [
                        "coords": Tensor(
                            int32: coords.flatMap { [$0.x, $0.y, $0.z] }, shape: [coords.count, 3])
                    ],
                    metadata: ["resolution": "\(resolution)"], to: voxelURL)
                n = coords.count
            }
            items.append(
                ShapeManifestItem(
                    id: id, kind: shape.kind.rawValue, parts: shape.parts.map(\.rawValue),
                    mesh: meshPath, voxels: voxelPath, numVoxels: n))
            progress?(i + 1, count, done)
        }
        let manifest = ShapeManifest(seed: shapes.seed, resolution: resolution, items: items)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writeAtomically(
            try encoder.encode(manifest), to: root.appendingPathComponent("manifest.json"))
        return manifest
    }

    /// Reads a voxel file written by `write`, checking its resolution and bounds.
    public static func readVoxels(_ url: URL, resolution: Int) throws -> [SIMD3<Int32>] {
        let file = try SafetensorsFile(url: url)
        if let r = file.metadata["resolution"], Int(r) != resolution {
            throw LatticeError(
                .invalidFile, "\(url.path): resolution \(r), expected \(resolution)")
        }
        let t = try file.tensor("coords")
        guard t.rank == 2, t.shape[1] == 3 else {
            throw LatticeError(
                .invalidFile, "\(url.path): coords shape \(t.shape), expected [N, 3]")
        }
        let v = t.toInts()
        var out: [SIMD3<Int32>] = []
        out.reserveCapacity(t.shape[0])
        for i in 0..<t.shape[0] {
            let c = SIMD3<Int32>(Int32(v[3 * i]), Int32(v[3 * i + 1]), Int32(v[3 * i + 2]))
            guard c.x >= 0, c.y >= 0, c.z >= 0, c.x < resolution, c.y < resolution, c.z < resolution
            else {
                throw LatticeError(.invalidFile, "\(url.path): voxel \(i) \(c) is outside the grid")
            }
            out.append(c)
        }
        return out
    }

    /// Wavefront OBJ text with vertex colours as `v x y z r g b` (a common extension).
    public static func obj(_ mesh: TriangleMesh) -> Data {
        var s = "# Lattice procedural shape\n"
        for (i, v) in mesh.vertices.enumerated() {
            s += "v \(v.x) \(v.y) \(v.z)"
            if let c = mesh.vertexColors?[i] { s += " \(c.x) \(c.y) \(c.z)" }
            s += "\n"
        }
        for f in mesh.faces { s += "f \(f.x + 1) \(f.y + 1) \(f.z + 1)\n" }
        return Data(s.utf8)
    }
}
