// SLat training sample sources: `FolderSLatDataset` reads a folder written by
// `SLatDatasetBuilder` (`lattice data build`), as TRELLIS's SLat datasets read renders,
// transforms.json and features (TRELLIS@6b0d647 trellis/datasets/structured_latent.py);
// `ProceduralSLatSource` makes the same samples in memory from `ProceduralShapes`.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeTensor

/// Picks `count` of `total` view indices spread evenly (Hammersley order puts neighbouring
/// indices at neighbouring elevations, so a prefix would see the asset from one side).
func spreadViewIndices(total: Int, count: Int?) -> [Int] {
    guard let count, count > 0, count < total else { return Array(0..<total) }
    return (0..<count).map { $0 * total / count }
}

/// SLat samples from a dataset folder (items with status done).
public final class FolderSLatDataset: SLatSampleSource {
    public let root: URL
    public let manifest: SLatDatasetManifest
    /// The finished items, in manifest order.
    public let items: [SLatDatasetItem]
    /// Views loaded per sample (nil: all), spread evenly over the item's views.
    public var viewsPerItem: Int?
    /// Whether samples carry the normalised mesh (mesh.ply).
    public var loadMesh: Bool

    public var count: Int { items.count }
    public var resolution: Int { manifest.options.resolution }
    public var featureChannels: Int { manifest.featureChannels }

    public init(root: URL, viewsPerItem: Int? = nil, loadMesh: Bool = true) throws {
        self.root = root
        manifest = try SLatDatasetManifest.read(root: root)
        items = manifest.items.filter { $0.status == .done }
        self.viewsPerItem = viewsPerItem
        self.loadMesh = loadMesh
    }

    public func sample(_ index: Int) throws -> SLatTrainingSample {
        guard index >= 0, index < items.count else {
            throw LatticeError(
                .invalidArgument, "\(root.path): sample \(index) of \(items.count) finished items")
        }
        let item = items[index]
        let dir = root.appendingPathComponent("items").appendingPathComponent(item.id)
        let (coords, features) = try readFeatures(
            dir.appendingPathComponent("features.safetensors"))
        let views = try readViews(dir.appendingPathComponent("renders"))
        let meshURL = dir.appendingPathComponent("mesh.ply")
        var mesh: TriangleMesh?
        if loadMesh {
            guard FileManager.default.fileExists(atPath: meshURL.path) else {
                throw LatticeError(.io, "\(meshURL.path): no such file")
            }
            mesh = try MeshPLY.readMesh(meshURL)
        }
        return SLatTrainingSample(
            id: item.id, resolution: resolution, coords: coords, features: features,
            featureChannels: featureChannels, views: views, mesh: mesh)
    }

    func readFeatures(_ url: URL) throws -> ([SIMD3<Int32>], [Float]) {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw LatticeError(.io, "\(url.path): no such file")
        }
        let file = try SafetensorsFile(url: url)
        let indices = try file.tensor("indices")
        let tokens = try file.tensor("patchtokens")
        let r = resolution
        guard indices.rank == 2, indices.shape[1] == 3, tokens.rank == 2,
            tokens.shape[0] == indices.shape[0], tokens.shape[1] == featureChannels
        else {
            throw LatticeError(
                .shapeMismatch,
                "\(url.path): indices \(indices.shape), patchtokens \(tokens.shape); expected "
                    + "[N, 3] and [N, \(featureChannels)]")
        }
        let v = indices.toInts()
        var coords: [SIMD3<Int32>] = []
        coords.reserveCapacity(indices.shape[0])
        for i in 0..<indices.shape[0] {
            let c = SIMD3<Int32>(Int32(v[3 * i]), Int32(v[3 * i + 1]), Int32(v[3 * i + 2]))
            guard c.min() >= 0, c.max() < Int32(r) else {
                throw LatticeError(
                    .invalidFile, "\(url.path): voxel \(i) \(c) is outside the \(r)³ grid")
            }
            coords.append(c)
        }
        return (coords, tokens.toFloats())
    }

    func readViews(_ dir: URL) throws -> [TrainingView] {
        let url = dir.appendingPathComponent("transforms.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw LatticeError(.io, "\(url.path): no such file")
        }
        let transforms: TransformsFile
        do {
            transforms = try JSONDecoder().decode(TransformsFile.self, from: Data(contentsOf: url))
        } catch {
            throw LatticeError(.invalidFile, "\(url.path): not a transforms.json (\(error))")
        }
        return try spreadViewIndices(total: transforms.frames.count, count: viewsPerItem).map { i in
            let frame = transforms.frames[i]
            let png = dir.appendingPathComponent(frame.filePath)
            guard FileManager.default.fileExists(atPath: png.path) else {
                throw LatticeError(.io, "\(png.path): no such file (frame \(i) of \(url.path))")
            }
            var image = try readImage(at: png)
            if image.channels != 4 {
                throw LatticeError(
                    .invalidFile, "\(png.path): \(image.channels) channels, expected RGBA")
            }
            image = RasterImage(
                width: image.width, height: image.height, channels: 4, pixels: image.pixels)
            let m = frame.transformMatrix.flatMap { $0 }
            guard m.count == 16 else {
                throw LatticeError(
                    .invalidFile, "\(url.path): frame \(i) transform_matrix has \(m.count) values")
            }
            let fov = Float(frame.cameraAngleX)
            return TrainingView(
                rgba: image.pixels, width: image.width, height: image.height,
                extrinsics: extrinsicsFromBlenderCameraToWorld(m),
                intrinsics: intrinsicsFromFov(x: fov, y: fov))
        }
    }
}

/// SLat samples made in memory from `ProceduralShapes`, item for item what `lattice data build
/// --procedural` writes (same ids, cameras and features).
public final class ProceduralSLatSource: SLatSampleSource {
    public let shapes: ProceduralShapes
    public let count: Int
    public let builder: SLatItemBuilder
    /// Views kept per sample (nil: all), spread evenly.
    public var viewsPerItem: Int?
    /// Keep built samples (rendering dominates the cost).
    public var cacheSamples: Bool
    private var cache: [Int: SLatTrainingSample] = [:]

    /// The item id of shape `index` (shared with the dataset folder).
    public static func itemID(_ index: Int) -> String { String(format: "shape_%06d", index) }

    public init(
        shapes: ProceduralShapes, count: Int, options: SLatDatasetOptions,
        extractor: any ViewFeatureExtractor = ColorContextFeatureExtractor(),
        viewsPerItem: Int? = nil, cacheSamples: Bool = true
    ) {
        self.shapes = shapes
        self.count = count
        builder = SLatItemBuilder(options: options, extractor: extractor)
        self.viewsPerItem = viewsPerItem
        self.cacheSamples = cacheSamples
    }

    public func sample(_ index: Int) throws -> SLatTrainingSample {
        guard index >= 0, index < count else {
            throw LatticeError(.invalidArgument, "procedural sample \(index) of \(count)")
        }
        if let s = cache[index] { return s }
        var s = try builder.build(
            mesh: shapes.shape(index).mesh, id: Self.itemID(index),
            source: "procedural:\(shapes.seed):\(index)"
        ).sample
        let keep = spreadViewIndices(total: s.views.count, count: viewsPerItem)
        if keep.count != s.views.count { s.views = keep.map { s.views[$0] } }
        if cacheSamples { cache[index] = s }
        return s
    }
}
