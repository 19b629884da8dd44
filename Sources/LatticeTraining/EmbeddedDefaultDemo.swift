// `lattice demo` as a library entry point: the embedded default model (shipped as a resource of
// this target) turns each bundled example photo into a GLB, a 3DGS PLY and a turntable GIF, and
// each result is scored against the held-out ground-truth shape the photo was rendered from.
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeModels
import LatticePipelines
import LatticeRender
import LatticeTensor

/// One bundled example: a photo of a held-out shape and that shape's mesh.
public struct DemoExample: Sendable {
    public var name: String
    /// RGBA PNG (transparent background).
    public var image: URL
    /// The ground-truth mesh (PLY, TRELLIS's Z-up frame, in [-0.5, 0.5]³).
    public var groundTruth: URL
}

/// Scores of one generated asset against its ground truth.
public struct DemoScore: Sendable {
    public var name: String
    /// Symmetric L1 Chamfer distance after normalising each mesh to [-1, 1]³, against the
    /// ground truth's outer surface (`ReferenceSurface.outer`: the faces of a part inside
    /// another part are not the shape's surface).
    public var chamfer: Float
    /// F-score at radius 0.1 in that frame (ReconViaGen's protocol), against the outer surface.
    public var fScore: Float
    /// The same against every face of the ground-truth mesh as stored, interior faces of
    /// overlapping parts included (equal to `fScore` up to sampling for one-part shapes).
    public var fScoreAllFaces: Float
    public var chamferAllFaces: Float
    /// Mean PSNR (dB) of shaded mesh renders vs the ground truth's over `viewCount` views.
    public var psnr: Double
    public var viewCount: Int
    /// Files written for this example.
    public var files: [URL]
    public var seconds: Double
}

extension EmbeddedDefault {
    /// The embedded model folder (pipeline.json, ckpts/, image_encoder.*) in this target's
    /// resources.
    public static func modelFolder() throws -> URL {
        guard
            let url = Bundle.module.url(forResource: "EmbeddedDefault", withExtension: nil),
            FileManager.default.fileExists(atPath: url.appendingPathComponent("pipeline.json").path)
        else {
            throw LatticeError(
                .io,
                "the embedded default's resources (EmbeddedDefault/pipeline.json) are missing from "
                    + "\(Bundle.module.bundlePath); rebuild the package")
        }
        return url
    }

    /// The examples (`examples/<name>.png` with `examples/<name>_gt.ply`) of `folder` (default:
    /// the bundled model folder), by name.
    public static func examples(in folder: URL? = nil) throws -> [DemoExample] {
        let dir = try (folder ?? modelFolder()).appendingPathComponent("examples")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".png") }.sorted()
        return try names.map { file in
            let name = String(file.dropLast(4))
            let gt = dir.appendingPathComponent("\(name)_gt.ply")
            guard FileManager.default.fileExists(atPath: gt.path) else {
                throw LatticeError(.io, "\(gt.path): ground truth of example '\(name)' missing")
            }
            return DemoExample(
                name: name, image: dir.appendingPathComponent(file), groundTruth: gt)
        }
    }

    /// The fixed views the demo scores renders on: four yaws at pitch 0.3, r 2, fov 40°.
    static func scoreCameras() throws -> [(extrinsics: Matrix4, intrinsics: Matrix3)] {
        try (0..<4).map {
            try yawPitchRadiusFovToExtrinsicsIntrinsics(
                yaw: Double($0) * Double.pi / 2 + 0.4, pitch: 0.3, radius: 2, fovDegrees: 40)
        }
    }

    /// Chamfer/F-score (20k surface samples each, seeded) against the ground truth's outer
    /// surface and against all its faces, and mean render PSNR of `generated` against
    /// `groundTruth`; also returns the renders (generated, ground truth) of view 0.
    public static func score(generated: TriangleMesh, groundTruth: TriangleMesh) throws -> (
        chamfer: Float, fScore: Float, allFaces: ChamferResult, psnr: Double, views: Int,
        preview: (generated: RasterImage, groundTruth: RasterImage)
    ) {
        var generator = RandomGenerator(seed: 7)
        let metric = meshChamferAndFScore(
            predicted: generated, reference: groundTruth, samples: 20_000, radius: 0.1,
            referenceSurface: .outer, generator: &generator)
        generator = RandomGenerator(seed: 7)
        let allFaces = meshChamferAndFScore(
            predicted: generated, reference: groundTruth, samples: 20_000, radius: 0.1,
            referenceSurface: .allFaces, generator: &generator)
        var total = 0.0
        var preview: (RasterImage, RasterImage)?
        let cameras = try scoreCameras()
        for camera in cameras {
            let a = try photo(generated, camera: camera, size: 256)
            let b = try photo(groundTruth, camera: camera, size: 256)
            total += try psnr(ImageOps.composite(a, over: [0]), ImageOps.composite(b, over: [0]))
            if preview == nil { preview = (a, b) }
        }
        guard let preview else {
            throw LatticeError(.invalidArgument, "score: no cameras")
        }
        return (
            metric.chamfer, metric.fScore, allFaces, total / Double(cameras.count),
            cameras.count, preview
        )
    }

    /// Images side by side (RGB, same height), with a 4 px gap.
    static func sideBySide(_ images: [RasterImage]) -> RasterImage {
        let h = images.map(\.height).max() ?? 0
        let gap = 4
        let w = images.map(\.width).reduce(0, +) + gap * max(images.count - 1, 0)
        var out = [Float](repeating: 1, count: w * h * 3)
        var x0 = 0
        for image in images {
            let rgb = ImageOps.composite(image, over: [0])
            for y in 0..<rgb.height {
                for x in 0..<rgb.width {
                    for c in 0..<3 {
                        out[(y * w + x0 + x) * 3 + c] = rgb.pixels[(y * rgb.width + x) * 3 + c]
                    }
                }
            }
            x0 += image.width + gap
        }
        return RasterImage(width: w, height: h, channels: 3, pixels: out)
    }

    /// Runs the embedded default on every bundled example (or those named in `only`), writing
    /// `<out>/<name>/<name>.{glb,ply,gif}` and `<out>/<name>/comparison.png` (input | ground
    /// truth | generated mesh, same view), and scores each result.
    ///
    /// `model` replaces the bundled model folder (its `examples/` are used when it has them).
    /// `oracleStructure` takes the sparse structure from the ground-truth mesh instead of the
    /// structure flow, which scores the later stages (SLat flow, decoders) alone.
    public static func runDemo(
        outputDirectory: URL, only: [String] = [],
        formats: Set<ExportFormat> = [.glb, .ply, .video],
        seed: UInt64 = 1, model: URL? = nil, oracleStructure: Bool = false,
        structureGuidance: Bool? = nil,
        onEvent: @escaping (String, PipelineEvent) -> Void = { _, _ in }
    ) throws -> [DemoScore] {
        let root = try model ?? modelFolder()
        let folder = try ModelFolder(root: root)
        let hasExamples = FileManager.default.fileExists(
            atPath: root.appendingPathComponent("examples").path)
        var examples = try examples(in: hasExamples ? root : nil)
        if !only.isEmpty {
            let unknown = only.filter { name in !examples.contains { $0.name == name } }
            guard unknown.isEmpty else {
                throw LatticeError(
                    .invalidArgument,
                    "unknown example(s) \(unknown.joined(separator: ", ")); bundled: "
                        + examples.map(\.name).joined(separator: ", "))
            }
            examples = examples.filter { only.contains($0.name) }
        }
        var scores: [DemoScore] = []
        for example in examples {
            let start = Date()
            let pipeline = TrellisPipeline(folder: folder) { onEvent(example.name, $0) }
            let dir = outputDirectory.appendingPathComponent(example.name)
            var request = GenerateRequest(modelFolder: folder.root, outputDirectory: dir)
            request.images = [example.image]
            request.seed = seed
            request.formats = formats.union([.glb])
            request.name = example.name
            request.videoFrames = 40
            request.videoResolution = 256
            if oracleStructure { request.variantOf = example.groundTruth }
            request.structureGuidance = structureGuidance
            let result = try pipeline.generate(request)
            guard let glb = result.files.first(where: { $0.pathExtension == "glb" }) else {
                throw LatticeError(.io, "\(example.name): the pipeline wrote no GLB")
            }
            let generated = try GLB.read(glb, yUpToZUp: true)
            let truth = try MeshPLY.readMesh(example.groundTruth)
            let s = try score(generated: generated, groundTruth: truth)
            let input = try readImage(at: example.image)
            let comparison = dir.appendingPathComponent("comparison.png")
            try writePNG(
                sideBySide([
                    ImageOps.resize(input, width: 256, height: 256), s.preview.groundTruth,
                    s.preview.generated,
                ]), to: comparison)
            scores.append(
                DemoScore(
                    name: example.name, chamfer: s.chamfer, fScore: s.fScore,
                    fScoreAllFaces: s.allFaces.fScore, chamferAllFaces: s.allFaces.chamfer,
                    psnr: s.psnr,
                    viewCount: s.views, files: result.files + [comparison],
                    seconds: Date().timeIntervalSince(start)))
        }
        return scores
    }
}
