// `lattice eval` as a library entry point: a TRELLIS model folder scored on held-out assets.
// Reconstruction fidelity follows TRELLIS's SLat VAE protocol (encode an asset's voxel features,
// decode, compare with the asset: Gaussian renders at the asset's own cameras -> PSNR / SSIM,
// FlexiCubes mesh -> Chamfer / F-score); generation runs the whole pipeline from a photo of the
// asset and scores the GLB as `lattice demo` does (EmbeddedDefault.score).
import Foundation
import LatticeGeometry
import LatticeIO
import LatticeModels
import LatticePipelines
import LatticeRender
import LatticeSparse
import LatticeTensor

/// Settings of an evaluation run.
public struct EvaluationOptions: Sendable {
    /// How the generation stage gets its conditioning photo.
    public enum Conditioning: String, Sendable, CaseIterable {
        /// A shaded photo of the ground-truth mesh from `EmbeddedDefault.conditionCamera`.
        case photo
        /// The item's first rendered view (dataset renders).
        case firstView = "first-view"
    }

    /// The folder with `pipeline.json` and `ckpts/`.
    public var modelFolder: URL
    /// Where results.json, results.md and the per-item files go.
    public var outputDirectory: URL
    /// An SLat encoder descriptor (`{"name": "SLatEncoder", "args": ...}`) with its weights as
    /// `<stem>.safetensors` beside it; nil: pipeline.json `models.slat_encoder`.
    public var encoder: URL?
    /// Views of each item the reconstruction is rendered at (spread over the item's views).
    public var views = 4
    /// Run the reconstruction-fidelity protocol.
    public var reconstruction = true
    /// Run the generation protocol.
    public var generation = true
    public var conditioning = Conditioning.photo
    /// Seed of generation and of the conditioning cameras.
    public var seed: UInt64 = 1
    /// Sampler steps of both flow stages (nil: pipeline.json's).
    public var steps: Int?
    /// Voxel cap before the SLat stage of generation (`GenerateRequest.maxVoxels`).
    public var maxVoxels: Int?
    /// Surface samples per mesh for Chamfer / F-score of the reconstruction.
    public var surfaceSamples = 20_000
    /// Grey level of the background Gaussian renders and ground-truth views are composited on.
    public var background: Float = 0
    /// Guidance of the structure stage (`GenerateRequest.structureGuidance`; nil: as the model
    /// folder's pipeline.json says).
    public var structureGuidance: Bool?

    public init(modelFolder: URL, outputDirectory: URL) {
        self.modelFolder = modelFolder
        self.outputDirectory = outputDirectory
    }
}

/// Metrics of one held-out item (nil where a stage was skipped or failed; see `errors`).
public struct EvaluationItemResult: Codable, Sendable {
    public var id: String
    /// Mean PSNR (dB) of the decoded Gaussians vs the ground-truth views.
    public var reconstructionPSNR: Double?
    /// Mean SSIM over the same views.
    public var reconstructionSSIM: Double?
    /// LPIPS needs network weights Lattice does not ship.
    public var reconstructionLPIPS = "n/a"
    /// Views the reconstruction was rendered at.
    public var reconstructionViews = 0
    /// Chamfer (L1, each mesh in [-1, 1]³) of the decoded FlexiCubes mesh vs the ground truth.
    public var reconstructionChamfer: Double?
    /// F-score at radius 0.1 in that frame.
    public var reconstructionFScore: Double?
    /// Chamfer of the generated GLB vs the ground truth (EmbeddedDefault.score).
    public var generationChamfer: Double?
    public var generationFScore: Double?
    /// The same F-score on every face of the ground truth, interior faces of overlapping parts
    /// included (the first protocol of these reports).
    public var generationFScoreAllFaces: Double?
    /// Mean PSNR of shaded renders of the generated mesh vs the ground truth's (4 views).
    public var generationPSNR: Double?
    /// What failed, by stage.
    public var errors: [String] = []
    /// GT view | reconstruction | generation, relative to the output folder.
    public var preview: String?
    public var seconds = 0.0

    public init(id: String) { self.id = id }

    enum CodingKeys: String, CodingKey {
        case id, errors, preview, seconds
        case reconstructionPSNR = "reconstruction_psnr"
        case reconstructionSSIM = "reconstruction_ssim"
        case reconstructionLPIPS = "reconstruction_lpips"
        case reconstructionViews = "reconstruction_views"
        case reconstructionChamfer = "reconstruction_chamfer"
        case reconstructionFScore = "reconstruction_fscore"
        case generationChamfer = "generation_chamfer"
        case generationFScore = "generation_fscore"
        case generationFScoreAllFaces = "generation_fscore_all_faces"
        case generationPSNR = "generation_psnr"
    }
}

/// All items and the means of each metric over the items that have it.
public struct EvaluationReport: Codable, Sendable {
    public var modelFolder: String
    public var items: [EvaluationItemResult]
    /// Metric name (the item keys) -> mean over items where it is finite.
    public var mean: [String: Double]
    /// Metric name -> number of items in that mean.
    public var counts: [String: Int]
    /// How the numbers were made.
    public var protocolNotes: [String]

    enum CodingKeys: String, CodingKey {
        case items, mean, counts
        case modelFolder = "model_folder"
        case protocolNotes = "protocol"
    }

    /// The table's metrics: (JSON key, column title, value of an item).
    static let columns:
        [(key: String, title: String, value: @Sendable (EvaluationItemResult) -> Double?)] = [
            ("reconstruction_psnr", "rec PSNR", { $0.reconstructionPSNR }),
            ("reconstruction_ssim", "rec SSIM", { $0.reconstructionSSIM }),
            ("reconstruction_chamfer", "rec CD", { $0.reconstructionChamfer }),
            ("reconstruction_fscore", "rec F@0.1", { $0.reconstructionFScore }),
            ("generation_chamfer", "gen CD", { $0.generationChamfer }),
            ("generation_fscore", "gen F@0.1", { $0.generationFScore }),
            ("generation_fscore_all_faces", "gen F all faces", { $0.generationFScoreAllFaces }),
            ("generation_psnr", "gen PSNR", { $0.generationPSNR }),
        ]

    init(modelFolder: String, items: [EvaluationItemResult], notes: [String]) {
        self.modelFolder = modelFolder
        self.items = items
        protocolNotes = notes
        mean = [:]
        counts = [:]
        for c in Self.columns {
            let values = items.compactMap(c.value).filter(\.isFinite)
            counts[c.key] = values.count
            if !values.isEmpty { mean[c.key] = values.reduce(0, +) / Double(values.count) }
        }
    }

    static func format(_ v: Double?) -> String {
        guard let v else { return "-" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        return String(format: abs(v) >= 10 ? "%.2f" : "%.4f", v)
    }

    /// Rows: one per item and the mean, cells as text.
    func rows() -> (header: [String], rows: [[String]]) {
        let header = ["item"] + Self.columns.map(\.title) + ["LPIPS", "time"]
        var rows = items.map { item in
            [item.id] + Self.columns.map { Self.format($0.value(item)) }
                + [item.reconstructionLPIPS, String(format: "%.1fs", item.seconds)]
        }
        rows.append(
            ["mean"] + Self.columns.map { Self.format(mean[$0.key]) }
                + ["n/a", String(format: "%.1fs", items.map(\.seconds).reduce(0, +))])
        return (header, rows)
    }

    /// A plain-text table (per item and mean), columns aligned.
    public func table() -> String {
        let (header, rows) = rows()
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
        func line(_ r: [String]) -> String {
            r.enumerated().map { c, s in
                c == 0
                    ? s.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - s.count) + s
            }.joined(separator: "  ")
        }
        var out = ([header] + rows).map(line)
        for item in items where !item.errors.isEmpty {
            out.append("\(item.id): " + item.errors.joined(separator: "; "))
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// The same table in Markdown, with the protocol notes and errors.
    public func markdown() -> String {
        let (header, rows) = rows()
        var out = ["# Evaluation of \(modelFolder)", ""]
        out.append("| " + header.joined(separator: " | ") + " |")
        out.append("|" + header.map { _ in "---|" }.joined())
        out += rows.map { "| " + $0.joined(separator: " | ") + " |" }
        out.append("")
        out += protocolNotes.map { "- " + $0 }
        let failed = items.filter { !$0.errors.isEmpty }
        if !failed.isEmpty {
            out += ["", "## Errors", ""]
            out += failed.map { "- \($0.id): " + $0.errors.joined(separator: "; ") }
        }
        let previews = items.compactMap { i in i.preview.map { (i.id, $0) } }
        if !previews.isEmpty {
            out += ["", "## Previews (ground-truth view | reconstruction | generation)", ""]
            out += previews.map { "![\($0.0)](\($0.1))" }
        }
        return out.joined(separator: "\n") + "\n"
    }
}

/// Scores a model folder on held-out items; models of the reconstruction protocol are loaded
/// once, generation loads the pipeline's models stage by stage per item.
public final class Evaluator {
    public let options: EvaluationOptions
    public let folder: ModelFolder
    /// The SLat encoder (nil when reconstruction is off).
    public let encoder: SLatEncoder?
    let gaussianDecoder: SLatGaussianDecoder?
    let meshDecoder: SLatMeshDecoder?

    /// Checks the inputs and loads the reconstruction models; every missing file or key is an
    /// error naming it.
    public init(options: EvaluationOptions) throws {
        self.options = options
        guard options.views > 0 else {
            throw LatticeError(.invalidArgument, "evaluation: views \(options.views) must be > 0")
        }
        guard options.reconstruction || options.generation else {
            throw LatticeError(
                .invalidArgument, "evaluation: both reconstruction and generation are off")
        }
        var isDirectory: ObjCBool = false
        guard
            FileManager.default.fileExists(
                atPath: options.modelFolder.path, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw LatticeError(.io, "\(options.modelFolder.path): no such model folder")
        }
        folder = try ModelFolder(root: options.modelFolder)
        guard options.reconstruction else {
            encoder = nil
            gaussianDecoder = nil
            meshDecoder = nil
            return
        }
        encoder = try Self.loadEncoder(folder: folder, descriptor: options.encoder)
        gaussianDecoder = try TrellisModels.load(
            folder.checkpoint("slat_decoder_gs"), as: SLatGaussianDecoder.self)
        meshDecoder = try TrellisModels.load(
            folder.checkpoint("slat_decoder_mesh"), as: SLatMeshDecoder.self)
    }

    /// The SLat encoder from `descriptor` (weights beside it) or pipeline.json's `slat_encoder`.
    static func loadEncoder(folder: ModelFolder, descriptor: URL?) throws -> SLatEncoder {
        guard let descriptor else {
            guard folder.config.models["slat_encoder"] != nil else {
                throw LatticeError(
                    .missingKey,
                    "\(folder.root.path)/pipeline.json: models has no 'slat_encoder' (has "
                        + folder.config.models.keys.sorted().joined(separator: ", ")
                        + "); reconstruction needs the SLat encoder: pass --encoder "
                        + "DESCRIPTOR.json (weights beside it as .safetensors) or --skip-reconstruction"
                )
            }
            return try TrellisModels.load(folder.checkpoint("slat_encoder"), as: SLatEncoder.self)
        }
        guard FileManager.default.fileExists(atPath: descriptor.path) else {
            throw LatticeError(.io, "\(descriptor.path): no such encoder descriptor")
        }
        let weights = descriptor.deletingPathExtension().appendingPathExtension("safetensors")
        guard FileManager.default.fileExists(atPath: weights.path) else {
            throw LatticeError(
                .io, "\(weights.path): no such file (the weights of encoder \(descriptor.path))")
        }
        let module = try TrellisModels.build(try ModelDescriptor(contentsOf: descriptor))
        guard let encoder = module as? SLatEncoder else {
            throw LatticeError(
                .invalidConfig, "\(descriptor.path): describes \(type(of: module)), not SLatEncoder"
            )
        }
        try encoder.load(try SafetensorsFile(url: weights).tensors(), source: weights.path)
        return encoder
    }

    /// The grid resolution items must have: the encoder's, else the SLat flow's.
    public func resolution() throws -> Int {
        if let encoder { return encoder.config.trunk.resolution }
        return try folder.checkpoint("slat_flow_model").descriptor
            .config(SLatFlowModel.Config.self).resolution
    }

    /// Held-out procedural items `start..<start + count` of the family `seed` with the embedded
    /// default's dataset settings (24 views of 96², colour-context features) at this model's
    /// resolution (family 1 from `EmbeddedDefault.heldOutStart` on, or any other family).
    public func proceduralSource(
        count: Int, seed: UInt64, start: Int = 0, views: Int = 24, imageSize: Int = 96
    ) throws -> any SLatSampleSource {
        ProceduralRangeSource(
            shapes: ProceduralShapes(seed: seed), start: start, count: count,
            builder: SLatItemBuilder(
                options: SLatDatasetOptions(
                    views: views, imageSize: imageSize, resolution: try resolution(), ssaa: 2,
                    seed: 3), extractor: ColorContextFeatureExtractor()))
    }

    /// Evaluates every item of `source`; a failing item is recorded and the run goes on.
    /// `onProgress(done, total, stage)` reports items finished and the current item's stage.
    /// Writes results.json, results.md and `items/<id>/` into the output folder.
    public func run(
        _ source: any SLatSampleSource, onProgress: (Int, Int, String) -> Void = { _, _, _ in }
    ) throws -> EvaluationReport {
        let out = options.outputDirectory
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        var items: [EvaluationItemResult] = []
        for index in 0..<source.count {
            onProgress(index, source.count, "item \(index): loading")
            let start = Date()
            var result = EvaluationItemResult(id: "item_\(index)")
            do {
                let sample = try source.sample(index)
                result.id = sample.id
                result = try evaluate(sample, index: index, result: result) { stage in
                    onProgress(index, source.count, "\(sample.id): \(stage)")
                }
            } catch {
                result.errors.append("sample: \(error)")
            }
            result.seconds = Date().timeIntervalSince(start)
            items.append(result)
            onProgress(index + 1, source.count, result.id)
        }
        let report = EvaluationReport(
            modelFolder: folder.root.path, items: items, notes: notes())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try writeAtomically(
            try encoder.encode(report), to: out.appendingPathComponent("results.json"))
        try writeAtomically(
            Data(report.markdown().utf8), to: out.appendingPathComponent("results.md"))
        return report
    }

    func notes() -> [String] {
        let photo =
            options.conditioning == .photo
            ? "a shaded photo of the ground-truth mesh (EmbeddedDefault.conditionCamera)"
            : "the item's first view"
        let steps = options.steps.map { ", \($0) steps per stage" } ?? ""
        return [
            "reconstruction: SLat encoder posterior mean of the item's voxel features, decoded; "
                + "Gaussians rendered (SplatSettings.trellis) at \(options.views) of the item's "
                + "views vs the ground-truth view composited on grey \(options.background); "
                + "LPIPS n/a (needs network weights)",
            "reconstruction mesh: mesh decoder + FlexiCubes; Chamfer (L1) and F-score at 0.1 "
                + "from \(options.surfaceSamples) surface samples per mesh, each mesh normalised "
                + "to [-1, 1]³, on the ground truth's outer surface (faces inside another of its "
                + "closed parts left out)",
            "generation: the pipeline from \(photo), seed \(options.seed)\(steps); the GLB scored "
                + "by EmbeddedDefault.score (20k samples per mesh, F@0.1 on the outer surface and "
                + "on all faces, PSNR of shaded renders from 4 views)",
        ]
    }

    /// Both protocols on one sample; stage failures are recorded in `errors`.
    func evaluate(
        _ sample: SLatTrainingSample, index: Int, result: EvaluationItemResult,
        stage: (String) -> Void
    ) throws -> EvaluationItemResult {
        var result = result
        guard let truth = sample.mesh else {
            throw LatticeError(.invalidArgument, "\(sample.id): the sample has no mesh")
        }
        guard let view = sample.views.first else {
            throw LatticeError(.invalidArgument, "\(sample.id): the sample has no views")
        }
        let dir = options.outputDirectory.appendingPathComponent("items")
            .appendingPathComponent(sample.id)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let blank = RasterImage(
            width: view.width, height: view.height, channels: 3,
            pixels: [Float](repeating: 0.5, count: view.width * view.height * 3))
        let truthView = composite(view)
        var reconstructionPreview = blank
        var generationPreview = blank
        if options.reconstruction {
            do {
                stage("encode")
                let slat = try encode(sample)
                stage("decode gaussians")
                let r = try renderMetrics(slat, sample: sample)
                result.reconstructionPSNR = r.psnr
                result.reconstructionSSIM = r.ssim
                result.reconstructionViews = r.views
                reconstructionPreview = r.preview
                stage("decode mesh")
                let mesh = try decodeMesh(slat)
                let m = Self.meshMetrics(
                    predicted: mesh, reference: truth, samples: options.surfaceSamples,
                    seed: UInt64(index))
                result.reconstructionChamfer = Double(m.chamfer)
                result.reconstructionFScore = Double(m.fScore)
            } catch {
                result.errors.append("reconstruction: \(error)")
            }
        }
        if options.generation {
            do {
                stage("generate")
                let generated = try generate(sample, truth: truth, index: index, dir: dir)
                stage("score generation")
                let s = try EmbeddedDefault.score(generated: generated, groundTruth: truth)
                result.generationChamfer = Double(s.chamfer)
                result.generationFScore = Double(s.fScore)
                result.generationFScoreAllFaces = Double(s.allFaces.fScore)
                result.generationPSNR = s.psnr
                generationPreview = composite(
                    try EmbeddedDefault.photo(
                        generated, camera: (view.extrinsics, view.intrinsics), size: view.width))
            } catch {
                result.errors.append("generation: \(error)")
            }
        }
        let preview = dir.appendingPathComponent("comparison.png")
        try writePNG(
            EmbeddedDefault.sideBySide([truthView, reconstructionPreview, generationPreview]),
            to: preview)
        result.preview = "items/\(sample.id)/comparison.png"
        return result
    }

    /// The encoder's posterior mean on the sample's voxels -> SLat coords [N, 4], feats [N, 8].
    func encode(_ sample: SLatTrainingSample) throws -> SparseTensor {
        guard let encoder else {
            throw LatticeError(.invalidArgument, "reconstruction is off: no encoder loaded")
        }
        let config = encoder.config
        guard sample.resolution == config.trunk.resolution,
            sample.featureChannels == config.inChannels
        else {
            throw LatticeError(
                .shapeMismatch,
                "\(sample.id): \(sample.resolution)³ voxels with \(sample.featureChannels) "
                    + "feature channels; the SLat encoder expects \(config.trunk.resolution)³ "
                    + "and in_channels \(config.inChannels)")
        }
        let n = sample.coords.count
        let latent = try EmbeddedDefault.encodeMean(encoder, sample)
        let coords = Tensor(int32: sample.coords.flatMap { [0, $0.x, $0.y, $0.z] }, shape: [n, 4])
        return try SparseTensor(
            coords: coords, feats: Tensor(latent, shape: [n, latent.count / n]))
    }

    /// `view` as RGB composited on the background grey.
    func composite(_ view: TrainingView) -> RasterImage {
        composite(
            RasterImage(width: view.width, height: view.height, channels: 4, pixels: view.rgba))
    }

    /// An RGBA image (straight alpha) composited on the background grey -> RGB.
    func composite(_ image: RasterImage) -> RasterImage {
        guard image.channels == 4 else { return image }
        let bg = options.background
        var out = [Float](repeating: 0, count: image.width * image.height * 3)
        for i in 0..<(image.width * image.height) {
            let a = image.pixels[4 * i + 3]
            for c in 0..<3 { out[3 * i + c] = image.pixels[4 * i + c] * a + bg * (1 - a) }
        }
        return RasterImage(width: image.width, height: image.height, channels: 3, pixels: out)
    }

    /// Gaussian decode of `slat`, rendered at `options.views` of the sample's views: mean PSNR,
    /// mean SSIM and the render of the first view.
    func renderMetrics(_ slat: SparseTensor, sample: SLatTrainingSample) throws -> (
        psnr: Double, ssim: Double, views: Int, preview: RasterImage
    ) {
        guard let decoder = gaussianDecoder else {
            throw LatticeError(.invalidArgument, "reconstruction is off: no Gaussian decoder")
        }
        guard let gaussians = try withNoGrad({ try decoder(slat) }).first else {
            throw LatticeError(.invalidArgument, "\(sample.id): the Gaussian decoder gave nothing")
        }
        let scene = try gaussians.scene()
        var settings = SplatSettings.trellis
        settings.backgrounds = [Float](repeating: options.background, count: 3)
        var total = (psnr: 0.0, ssim: 0.0)
        var preview: RasterImage?
        // The first view is always among those scored, so the preview is a scored render.
        let picks = spreadViewIndices(total: sample.views.count, count: options.views)
        for i in picks {
            let view = sample.views[i]
            let camera = try SplatCamera(
                viewmat: view.extrinsics,
                k: intrinsicsInPixels(view.intrinsics, width: view.width, height: view.height),
                width: view.width, height: view.height)
            let render = try rasterizeGaussians(scene, cameras: [camera], settings: settings)
            let image = RasterImage(
                width: view.width, height: view.height, channels: 3,
                pixels: render.images.rgb.map { min(1, max(0, $0)) })
            let truth = composite(view)
            total.psnr += try psnr(image, truth)
            total.ssim += try ssim(image, truth)
            if preview == nil { preview = image }
        }
        guard let preview else {
            throw LatticeError(.invalidArgument, "\(sample.id): no views to render")
        }
        let k = Double(picks.count)
        return (total.psnr / k, total.ssim / k, picks.count, preview)
    }

    /// Mesh decoder + FlexiCubes on `slat`.
    func decodeMesh(_ slat: SparseTensor) throws -> TriangleMesh {
        guard let decoder = meshDecoder else {
            throw LatticeError(.invalidArgument, "reconstruction is off: no mesh decoder")
        }
        let features = try withNoGrad { try decoder(slat) }
        let extractor = SparseFeatures2Mesh(
            resolution: decoder.meshResolution,
            useColor: decoder.config.representationConfig.useColor
        )
        let meshes = try extractor(coords: features.coords, feats: features.feats)
        guard let first = meshes.first, first.success else {
            throw LatticeError(
                .invalidArgument,
                "mesh extraction found no surface in the decoded features (\(features.count) cubes)"
            )
        }
        return first.mesh
    }

    /// Runs the pipeline on the item's conditioning photo and reads back the GLB (Z-up).
    func generate(_ sample: SLatTrainingSample, truth: TriangleMesh, index: Int, dir: URL) throws
        -> TriangleMesh
    {
        let photo: RasterImage
        switch options.conditioning {
        case .photo:
            let camera = try EmbeddedDefault.conditionCamera(
                seed: splitMix(options.seed ^ 0xE7A1) ^ UInt64(index))
            photo = try EmbeddedDefault.photo(truth, camera: camera)
        case .firstView:
            guard let v = sample.views.first else {
                throw LatticeError(.invalidArgument, "\(sample.id): no views")
            }
            photo = RasterImage(width: v.width, height: v.height, channels: 4, pixels: v.rgba)
        }
        let photoURL = dir.appendingPathComponent("condition.png")
        try writePNG(photo, to: photoURL)
        var request = GenerateRequest(modelFolder: folder.root, outputDirectory: dir)
        request.images = [photoURL]
        request.seed = options.seed
        request.formats = [.glb]
        request.name = "generated"
        request.maxVoxels = options.maxVoxels
        request.structureGuidance = options.structureGuidance
        if let steps = options.steps {
            request.sparseStructureParams.steps = steps
            request.slatParams.steps = steps
        }
        let result = try TrellisPipeline(folder: folder).generate(request)
        guard let glb = result.files.first(where: { $0.pathExtension == "glb" }) else {
            throw LatticeError(.io, "\(sample.id): the pipeline wrote no GLB")
        }
        return try GLB.read(glb, yUpToZUp: true)
    }
}

/// Procedural shapes `start..<start + count` as SLat samples, each built as `lattice data build
/// --procedural` builds it (same ids, cameras and features), nothing cached.
final class ProceduralRangeSource: SLatSampleSource {
    let shapes: ProceduralShapes
    let start: Int
    let count: Int
    let builder: SLatItemBuilder

    init(shapes: ProceduralShapes, start: Int, count: Int, builder: SLatItemBuilder) {
        self.shapes = shapes
        self.start = start
        self.count = count
        self.builder = builder
    }

    func sample(_ index: Int) throws -> SLatTrainingSample {
        guard index >= 0, index < count else {
            throw LatticeError(.invalidArgument, "procedural sample \(index) of \(count)")
        }
        let i = start + index
        return try builder.build(
            mesh: shapes.shape(i).mesh, id: ProceduralSLatSource.itemID(i),
            source: "procedural:\(shapes.seed):\(i)"
        ).sample
    }
}

extension Evaluator {
    /// Chamfer (L1) and F-score at 0.1 between two meshes, each normalised to [-1, 1]³, from
    /// `samples` surface points each (seeded), on the reference's outer surface (the faces of a
    /// part that lie inside another part are not the shape's surface; the procedural merged
    /// shapes are overlapping closed parts), or on all its faces.
    public static func meshMetrics(
        predicted: TriangleMesh, reference: TriangleMesh, samples: Int = 20_000, seed: UInt64 = 0,
        referenceSurface: ReferenceSurface = .outer
    ) -> ChamferResult {
        var generator = RandomGenerator(seed: seed)
        return meshChamferAndFScore(
            predicted: predicted, reference: reference, samples: samples, radius: 0.1,
            referenceSurface: referenceSurface, generator: &generator)
    }
}
