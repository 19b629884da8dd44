// `lattice data build`: TRELLIS's data toolkit chain (TRELLIS@6b0d647 dataset_toolkits/render.py,
// voxelize.py, extract_feature.py) for one folder of meshes or for procedural shapes, into a
// resumable dataset folder:
//   manifest.json                      format, options, extractor, items (written atomically)
//   items/<id>/renders/transforms.json upstream fields (Blender c2w) + yaw/pitch/radius/fov
//   items/<id>/renders/000.png ...     RGBA, transparent background
//   items/<id>/mesh.ply                the normalised mesh
//   items/<id>/voxels.ply              voxel centres (i + 0.5)/R - 0.5
//   items/<id>/features.safetensors    indices [N, 3] (uint8, int32 when R > 256),
//                                      patchtokens [N, C] f16
// An item is built in items/.tmp-<id> and renamed into place when complete, so a present
// items/<id> is a finished item and an interrupted run leaves only a temp folder, removed on the
// next run.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeTensor

/// Rendering and voxelization settings of a dataset.
public struct SLatDatasetOptions: Codable, Sendable, Equatable {
    /// Views per item (upstream 150).
    public var views: Int
    /// Square render size in pixels (upstream 512).
    public var imageSize: Int
    /// Voxel grid resolution (upstream 64).
    public var resolution: Int
    /// Supersampling of the rasterizer.
    public var ssaa: Int
    /// Camera distance to the origin (upstream 2).
    public var radius: Double
    /// Field of view in degrees (upstream 40).
    public var fovDegrees: Double
    /// Seed of the per-item camera offsets.
    public var seed: UInt64

    enum CodingKeys: String, CodingKey {
        case views, resolution, ssaa, radius, seed
        case imageSize = "image_size"
        case fovDegrees = "fov_degrees"
    }

    public init(
        views: Int = 150, imageSize: Int = 512, resolution: Int = 64, ssaa: Int = 2,
        radius: Double = 2, fovDegrees: Double = 40, seed: UInt64 = 0
    ) {
        self.views = views
        self.imageSize = imageSize
        self.resolution = resolution
        self.ssaa = ssaa
        self.radius = radius
        self.fovDegrees = fovDegrees
        self.seed = seed
    }

    /// Throws `invalidArgument` for non-positive sizes.
    public func validate() throws {
        for (name, v) in [
            ("views", views), ("image size", imageSize), ("resolution", resolution), ("ssaa", ssaa),
        ] where v <= 0 {
            throw LatticeError(.invalidArgument, "dataset options: \(name) \(v) must be positive")
        }
        guard radius > 0.9, fovDegrees > 0, fovDegrees < 180 else {
            throw LatticeError(
                .invalidArgument,
                "dataset options: radius \(radius) (must exceed the unit cube's reach), "
                    + "fov \(fovDegrees)° (must be in (0, 180))")
        }
    }
}

/// One item of a dataset manifest.
public struct SLatDatasetItem: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case pending, done, failed }
    /// Folder name under items/.
    public var id: String
    /// Where the mesh came from (a path, or `procedural:<seed>:<index>`).
    public var source: String
    public var status: Status
    public var numVoxels: Int?
    public var numViews: Int?
    public var numFaces: Int?
    /// Why the item failed.
    public var error: String?

    enum CodingKeys: String, CodingKey {
        case id, source, status, error
        case numVoxels = "num_voxels"
        case numViews = "num_views"
        case numFaces = "num_faces"
    }

    public init(id: String, source: String, status: Status = .pending) {
        self.id = id
        self.source = source
        self.status = status
    }
}

/// `manifest.json` of a dataset folder.
public struct SLatDatasetManifest: Codable, Sendable, Equatable {
    public static let formatName = "lattice-slat-dataset"
    public static let currentVersion = 1
    public var format: String
    public var version: Int
    public var options: SLatDatasetOptions
    /// Feature extractor name and channels C.
    public var featureExtractor: String
    public var featureChannels: Int
    public var visibilityTest: Bool
    public var items: [SLatDatasetItem]

    enum CodingKeys: String, CodingKey {
        case format, version, options, items
        case featureExtractor = "feature_extractor"
        case featureChannels = "feature_channels"
        case visibilityTest = "visibility_test"
    }

    public init(
        options: SLatDatasetOptions, featureExtractor: String, featureChannels: Int,
        visibilityTest: Bool, items: [SLatDatasetItem]
    ) {
        format = Self.formatName
        version = Self.currentVersion
        self.options = options
        self.featureExtractor = featureExtractor
        self.featureChannels = featureChannels
        self.visibilityTest = visibilityTest
        self.items = items
    }

    /// Reads and checks `root/manifest.json`.
    public static func read(root: URL) throws -> SLatDatasetManifest {
        let url = root.appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw LatticeError(.io, "\(url.path): no such file (not a dataset folder?)")
        }
        let m: SLatDatasetManifest
        do {
            m = try JSONDecoder().decode(Self.self, from: Data(contentsOf: url))
        } catch {
            throw LatticeError(.invalidFile, "\(url.path): not a dataset manifest (\(error))")
        }
        guard m.format == formatName, m.version == currentVersion else {
            throw LatticeError(
                .invalidFile,
                "\(url.path): format '\(m.format)' version \(m.version), expected "
                    + "'\(formatName)' version \(currentVersion)")
        }
        return m
    }

    /// Writes `root/manifest.json` atomically.
    public func write(root: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writeAtomically(
            try encoder.encode(self), to: root.appendingPathComponent("manifest.json"))
    }
}

/// One built item in memory.
public struct SLatBuiltItem {
    public var sample: SLatTrainingSample
    public var cameras: [DatasetCamera]
    /// Normalisation applied to the source mesh: v' = v · scale + offset.
    public var scale: Double
    public var offset: SIMD3<Double>
}

/// Where dataset items come from.
public enum SLatDatasetInput: Sendable {
    /// Every .obj / .ply / .glb file in a folder (not recursive), sorted by name.
    case meshFolder(URL)
    /// `count` shapes of `ProceduralShapes(seed:)`.
    case procedural(count: Int, seed: UInt64)
}

/// The per-item chain: normalise, render, voxelize, extract and average features.
public struct SLatItemBuilder {
    public var options: SLatDatasetOptions
    public var extractor: any ViewFeatureExtractor
    public var shading = DatasetShading()
    /// Views whose feature maps are computed at once (bounds memory for DINOv2).
    public var featureBatch = 8

    public init(options: SLatDatasetOptions, extractor: any ViewFeatureExtractor) {
        self.options = options
        self.extractor = extractor
    }

    /// The camera offset of item `id`: a uniform pair from (seed, id), as upstream draws one
    /// `np.random.rand()` pair per asset.
    public func cameraOffset(id: String) -> (Double, Double) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in id.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        var g = RandomGenerator(seed: options.seed ^ hash)
        let u = g.uniform(count: 2)
        return (Double(u[0]), Double(u[1]))
    }

    /// Builds item `id` from `mesh` (any frame; normalised here). `source` names it in errors.
    public func build(mesh raw: TriangleMesh, id: String, source: String) throws -> SLatBuiltItem {
        try raw.validate(source: source)
        guard !raw.faces.isEmpty, let b = raw.bounds else {
            throw LatticeError(.invalidFile, "\(source): mesh has no faces")
        }
        let extent = Double((b.max - b.min).max())
        guard extent > 0 else {
            throw LatticeError(.invalidFile, "\(source): mesh has zero extent (all vertices equal)")
        }
        let centre = SIMD3<Double>((b.max + b.min) / 2)
        let scale = 1 / extent
        var mesh = raw
        mesh.vertices = raw.vertices.map { v in
            SIMD3<Float>((SIMD3<Double>(v) - centre) * scale)
        }
        let cameras = DatasetCamera.trellisViews(
            count: options.views, offset: cameraOffset(id: id), radius: options.radius,
            fovDegrees: options.fovDegrees)
        let coords = Voxelizer.voxelizeSurface(mesh, resolution: options.resolution)
        var acc = VoxelFeatureAccumulator(
            coords: coords, resolution: options.resolution, channels: extractor.channels,
            visibilityTest: extractor.visibilityTest)
        var views: [TrainingView] = []
        for start in stride(from: 0, to: cameras.count, by: max(1, featureBatch)) {
            let rendered = try cameras[start..<min(cameras.count, start + featureBatch)].map {
                try renderDatasetView(
                    mesh, camera: $0, size: options.imageSize, ssaa: options.ssaa,
                    shading: shading)
            }
            let maps = try extractor.featureMaps(rendered)
            for (v, m) in zip(rendered, maps) { acc.add(v, m) }
            views += rendered.map(\.view)
        }
        let sample = SLatTrainingSample(
            id: id, resolution: options.resolution, coords: coords, features: acc.result(),
            featureChannels: extractor.channels, views: views, mesh: mesh)
        return SLatBuiltItem(
            sample: sample, cameras: cameras, scale: scale, offset: -centre * scale)
    }
}

/// Progress of `SLatDatasetBuilder.build`.
public struct SLatBuildProgress: Sendable {
    /// Items handled so far (built, skipped or failed) and in all.
    public var done: Int
    public var total: Int
    public var built: Int
    public var skipped: Int
    public var failed: Int
    /// The item just handled.
    public var lastItem: SLatDatasetItem
}

/// Writes a dataset folder item by item; resumable (see the file header).
public final class SLatDatasetBuilder {
    public let root: URL
    public let itemBuilder: SLatItemBuilder
    /// Item files in a folder, sorted.
    static let meshExtensions: Set<String> = ["obj", "ply", "glb"]

    public init(root: URL, options: SLatDatasetOptions, extractor: any ViewFeatureExtractor) {
        self.root = root
        itemBuilder = SLatItemBuilder(options: options, extractor: extractor)
    }

    var options: SLatDatasetOptions { itemBuilder.options }

    /// The items of `input` with their loaders.
    static func sources(_ input: SLatDatasetInput) throws -> [(
        item: SLatDatasetItem, load: () throws -> TriangleMesh
    )] {
        switch input {
        case .procedural(let count, let seed):
            let shapes = ProceduralShapes(seed: seed)
            return (0..<count).map { i in
                (
                    SLatDatasetItem(
                        id: ProceduralSLatSource.itemID(i), source: "procedural:\(seed):\(i)"),
                    { shapes.shape(i).mesh }
                )
            }
        case .meshFolder(let folder):
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            } catch {
                throw LatticeError(.io, "\(folder.path): cannot list the mesh folder (\(error))")
            }
            let files = names.filter {
                meshExtensions.contains(($0 as NSString).pathExtension.lowercased())
            }.sorted()
            let stems = Dictionary(grouping: files) { ($0 as NSString).deletingPathExtension }
            return files.map { name in
                let url = folder.appendingPathComponent(name)
                let stem = (name as NSString).deletingPathExtension
                // Two files with one stem (chair.obj, chair.glb) keep their extensions apart.
                let raw = (stems[stem]?.count ?? 0) > 1 ? name : stem
                let id = String(
                    raw.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
                return (
                    SLatDatasetItem(id: id, source: url.path),
                    {
                        // Blender imports glTF Y-up into its Z-up world; so do we.
                        url.pathExtension.lowercased() == "glb"
                            ? try GLB.read(url, yUpToZUp: true) : try readMesh(at: url)
                    }
                )
            }
        }
    }

    /// Builds every item of `input` not already done; failed items are retried. A failing item
    /// is recorded (status failed, error) and the run goes on. Returns the final manifest.
    @discardableResult
    public func build(
        _ input: SLatDatasetInput, progress: ((SLatBuildProgress) -> Void)? = nil
    ) throws -> SLatDatasetManifest {
        try options.validate()
        let fm = FileManager.default
        let itemsDir = root.appendingPathComponent("items")
        try fm.createDirectory(at: itemsDir, withIntermediateDirectories: true)
        let extractor = itemBuilder.extractor
        var previous: [String: SLatDatasetItem] = [:]
        if fm.fileExists(atPath: root.appendingPathComponent("manifest.json").path) {
            let old = try SLatDatasetManifest.read(root: root)
            guard old.options == options, old.featureExtractor == extractor.name,
                old.featureChannels == extractor.channels
            else {
                throw LatticeError(
                    .invalidConfig,
                    "\(root.path)/manifest.json: built with \(old.options), extractor "
                        + "\(old.featureExtractor) (\(old.featureChannels) channels); this run asks "
                        + "for \(options), \(extractor.name) (\(extractor.channels)); use another "
                        + "folder or the same settings")
            }
            for item in old.items { previous[item.id] = item }
        }
        // Leftovers of an interrupted run.
        for name in (try? fm.contentsOfDirectory(atPath: itemsDir.path)) ?? []
        where name.hasPrefix(".tmp-") {
            try? fm.removeItem(at: itemsDir.appendingPathComponent(name))
        }
        let sources = try Self.sources(input)
        var seen = Set<String>()
        for s in sources where !seen.insert(s.item.id).inserted {
            throw LatticeError(.invalidArgument, "dataset input: two items named '\(s.item.id)'")
        }
        var manifest = SLatDatasetManifest(
            options: options, featureExtractor: extractor.name,
            featureChannels: extractor.channels, visibilityTest: extractor.visibilityTest,
            items: sources.map { s in
                if let p = previous[s.item.id], p.status == .done,
                    Self.isComplete(itemsDir, s.item.id)
                {
                    return p
                }
                return s.item
            })
        try manifest.write(root: root)
        var counts = (built: 0, skipped: 0, failed: 0)
        for (i, s) in sources.enumerated() {
            if manifest.items[i].status == .done {
                counts.skipped += 1
            } else {
                manifest.items[i] = buildItem(s.item, load: s.load, itemsDir: itemsDir)
                if manifest.items[i].status == .done {
                    counts.built += 1
                } else {
                    counts.failed += 1
                }
                try manifest.write(root: root)
            }
            progress?(
                SLatBuildProgress(
                    done: i + 1, total: sources.count, built: counts.built,
                    skipped: counts.skipped, failed: counts.failed, lastItem: manifest.items[i]))
        }
        return manifest
    }

    static func isComplete(_ itemsDir: URL, _ id: String) -> Bool {
        FileManager.default.fileExists(
            atPath: itemsDir.appendingPathComponent(id).appendingPathComponent(
                "features.safetensors"
            ).path)
    }

    /// Builds one item into a temp folder and renames it into place; errors become a failed
    /// item.
    func buildItem(
        _ item: SLatDatasetItem, load: () throws -> TriangleMesh, itemsDir: URL
    ) -> SLatDatasetItem {
        var out = item
        let fm = FileManager.default
        let temp = itemsDir.appendingPathComponent(".tmp-\(item.id)")
        let final = itemsDir.appendingPathComponent(item.id)
        do {
            let built = try itemBuilder.build(mesh: try load(), id: item.id, source: item.source)
            try? fm.removeItem(at: temp)
            try Self.write(built, options: options, to: temp)
            try? fm.removeItem(at: final)
            try fm.moveItem(at: temp, to: final)
            out.status = .done
            out.numVoxels = built.sample.coords.count
            out.numViews = built.sample.views.count
            out.numFaces = built.sample.mesh?.faces.count
            out.error = nil
        } catch {
            try? fm.removeItem(at: temp)
            out.status = .failed
            out.error = "\(error)"
        }
        return out
    }

    /// Writes a built item's files into `dir`.
    static func write(_ built: SLatBuiltItem, options: SLatDatasetOptions, to dir: URL) throws {
        let fm = FileManager.default
        let renders = dir.appendingPathComponent("renders")
        try fm.createDirectory(at: renders, withIntermediateDirectories: true)
        let s = built.sample
        var frames: [TransformsFile.Frame] = []
        for (i, (view, camera)) in zip(s.views, built.cameras).enumerated() {
            let name = String(format: "%03d.png", i)
            try writePNG(
                RasterImage(width: view.width, height: view.height, channels: 4, pixels: view.rgba),
                to: renders.appendingPathComponent(name))
            let c2w = camera.blenderCameraToWorld()
            frames.append(
                TransformsFile.Frame(
                    filePath: name, cameraAngleX: camera.fov, yaw: camera.yaw, pitch: camera.pitch,
                    radius: camera.radius, fov: camera.fov,
                    transformMatrix: (0..<4).map { Array(c2w[($0 * 4)..<($0 * 4 + 4)]) }))
        }
        let transforms = TransformsFile(
            cameraAngleX: options.fovDegrees * Double.pi / 180, scale: built.scale,
            offset: [built.offset.x, built.offset.y, built.offset.z],
            aabb: [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]], frames: frames)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writeAtomically(
            try encoder.encode(transforms), to: renders.appendingPathComponent("transforms.json"))
        if let mesh = s.mesh { try MeshPLY.write(mesh, to: dir.appendingPathComponent("mesh.ply")) }
        try MeshPLY.write(
            PointCloud(positions: Voxelizer.voxelCentres(s.coords, resolution: s.resolution)),
            to: dir.appendingPathComponent("voxels.ply"))
        let n = s.coords.count
        let indices = Tensor(int32: s.coords.flatMap { [$0.x, $0.y, $0.z] }, shape: [n, 3])  // [N, 3]
        try Safetensors.write(
            [
                "indices": s.resolution <= 256 ? indices.to(.uint8) : indices,
                "patchtokens": Tensor(s.features, shape: [n, s.featureChannels]).to(.float16),  // [N, C]
            ],
            metadata: ["resolution": "\(s.resolution)"],
            to: dir.appendingPathComponent("features.safetensors"))
    }
}

/// transforms.json as upstream's Blender script writes it, plus yaw/pitch/radius/fov per frame.
struct TransformsFile: Codable {
    struct Frame: Codable {
        var filePath: String
        var cameraAngleX: Double
        var yaw: Double?
        var pitch: Double?
        var radius: Double?
        var fov: Double?
        /// Blender camera-to-world, 4 rows.
        var transformMatrix: [[Double]]

        enum CodingKeys: String, CodingKey {
            case yaw, pitch, radius, fov
            case filePath = "file_path"
            case cameraAngleX = "camera_angle_x"
            case transformMatrix = "transform_matrix"
        }
    }
    var cameraAngleX: Double?
    var scale: Double?
    var offset: [Double]?
    var aabb: [[Double]]?
    var frames: [Frame]

    enum CodingKeys: String, CodingKey {
        case scale, offset, aabb, frames
        case cameraAngleX = "camera_angle_x"
    }
}
