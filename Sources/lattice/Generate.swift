// `lattice generate`: TRELLIS image/multi-image/text to 3D from a model folder, with a progress
// bar per stage and a summary of what was written and how long each stage took.
import ArgumentParser
import Foundation
import LatticeModels
import LatticePipelines

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a 3D asset from image(s) or a prompt with a TRELLIS model folder.",
        discussion: """
            The model folder is laid out like the upstream hub repos: pipeline.json and ckpts/ \
            (TRELLIS-image-large, or TRELLIS-text-* next to TRELLIS-image-large for its decoders). \
            Images need transparency, or a --mask per image (white = object).
            """)

    @Option(
        name: .customLong("image"), help: "Conditioning image (PNG/JPEG); repeat for multi-image.")
    var images: [String] = []

    @Option(
        name: .customLong("mask"), help: "Mask for the image at the same position (white = object)."
    )
    var masks: [String] = []

    @Option(help: "Multi-image mode: stochastic or multidiffusion.")
    var mode: String = "stochastic"

    @Option(help: "Text prompt (text pipelines).")
    var prompt: String?

    @Option(
        name: .customLong("variant-of"),
        help: "Asset variant: keep this mesh's (GLB/OBJ/PLY) structure, regenerate its latents.")
    var variantOf: String?

    @Option(help: "Model folder (pipeline.json + ckpts/).")
    var model: String

    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "Guide the structure stage by the photo (ReconViaGen-style; one image, and a model "
                + "folder whose pipeline.json gives its conditioning camera as "
                + "structure_guidance {yaw, pitch, fov}): toward the layered-depth prior's lifted "
                + "surface when structure_guidance names one (layered_depth), else toward the "
                + "photo's silhouette."
                + " Default: as the model folder's pipeline.json says (structure_guidance.enabled)."
        ))
    var structureGuidance: Bool?

    @Option(help: "Random seed.")
    var seed: UInt64 = 42

    @Option(
        name: .customLong("ss-steps"),
        help: "Sparse-structure sampler steps (pipeline.json default).")
    var ssSteps: Int?

    @Option(name: .customLong("ss-cfg"), help: "Sparse-structure CFG strength.")
    var ssCfg: Double?

    @Option(name: .customLong("slat-steps"), help: "Structured-latent sampler steps.")
    var slatSteps: Int?

    @Option(name: .customLong("slat-cfg"), help: "Structured-latent CFG strength.")
    var slatCfg: Double?

    @Option(
        name: .customLong("max-voxels"),
        help: "Keep at most N occupied voxels (evenly strided) before the latent stage.")
    var maxVoxels: Int?

    @Option(help: "Comma-separated outputs: glb, ply, video, rf_video (radiance-field turntable).")
    var formats: String = "glb,ply"

    @Option(help: "Output folder.")
    var out: String = "out"

    @Option(help: "File stem of the outputs.")
    var name: String = "asset"

    @Option(name: .customLong("video-frames"), help: "Turntable frames.")
    var videoFrames: Int = 60

    @Option(name: .customLong("video-size"), help: "Turntable resolution in pixels.")
    var videoSize: Int = 256

    @Option(help: "Worker threads (default: all cores or LATTICE_THREADS).")
    var threads: Int?

    func parsedFormats() throws -> Set<ExportFormat> {
        var out: Set<ExportFormat> = []
        for item in formats.split(separator: ",") {
            let s = item.trimmingCharacters(in: .whitespaces)
            guard let f = ExportFormat(rawValue: s) else {
                throw ValidationError(
                    "--formats: unknown format '\(s)' (expected glb, ply, video, rf_video)")
            }
            out.insert(f)
        }
        if out.isEmpty {
            throw ValidationError("--formats: give at least one of glb, ply, video, rf_video")
        }
        return out
    }

    func validate() throws {
        if images.isEmpty == (prompt == nil) {
            throw ValidationError("give --image (one or more) or --prompt, not both")
        }
        if masks.count > images.count {
            throw ValidationError("\(masks.count) --mask for \(images.count) --image")
        }
        if FlowEulerSampler.MultiImageMode(rawValue: mode) == nil {
            throw ValidationError("--mode must be stochastic or multidiffusion, got '\(mode)'")
        }
        for (flag, v) in [("--ss-steps", ssSteps), ("--slat-steps", slatSteps)] {
            if let v, v < 1 { throw ValidationError("\(flag) must be at least 1, got \(v)") }
        }
        if let m = maxVoxels, m < 1 { throw ValidationError("--max-voxels must be at least 1") }
        if let t = threads, t < 1 {
            throw ValidationError("--threads must be at least 1, got \(t)")
        }
        _ = try parsedFormats()
    }

    func run() throws {
        if let threads { Parallel.threadCount = threads }
        var request = GenerateRequest(
            modelFolder: URL(fileURLWithPath: model), outputDirectory: URL(fileURLWithPath: out))
        request.images = images.map { URL(fileURLWithPath: $0) }
        request.masks = masks.map { URL(fileURLWithPath: $0) }
        request.prompt = prompt
        request.variantOf = variantOf.map { URL(fileURLWithPath: $0) }
        request.structureGuidance = structureGuidance
        request.maxVoxels = maxVoxels
        request.multiImageMode = FlowEulerSampler.MultiImageMode(rawValue: mode) ?? .stochastic
        request.seed = seed
        request.sparseStructureParams = .init(steps: ssSteps, cfgStrength: ssCfg)
        request.slatParams = .init(steps: slatSteps, cfgStrength: slatCfg)
        request.formats = try parsedFormats()
        request.name = name
        request.videoFrames = videoFrames
        request.videoResolution = videoSize
        let result: GenerateResult
        do {
            let folder = try ModelFolder(root: request.modelFolder)
            var bars: [String: ProgressBar] = [:]
            var starts: [String: Date] = [:]
            let pipeline = TrellisPipeline(folder: folder) { event in
                switch event {
                case .started(let stage, let detail):
                    starts[stage] = Date()
                    if stage != "structured latent" && stage != "sparse structure" {
                        FileHandle.standardError.write(Data("\(stage): \(detail)\n".utf8))
                    }
                case .step(let stage, let index, let total):
                    let bar =
                        bars[stage]
                        ?? ProgressBar(stage, total: total, start: starts[stage] ?? Date())
                    bars[stage] = bar
                    bar.update(index + 1)
                case .finished: break
                case .warning(let text):
                    FileHandle.standardError.write(Data("warning: \(text)\n".utf8))
                case .note(let text):
                    FileHandle.standardError.write(Data("\(text)\n".utf8))
                }
            }
            result = try pipeline.generate(request)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print("wrote:")
        for file in result.files { print("  \(file.path)") }
        print(
            "\(result.voxels) voxels, \(result.gaussians) Gaussians, mesh \(result.meshVertices) "
                + "vertices / \(result.meshFaces) faces")
        print("stage times:")
        var merged: [(String, Double)] = []
        for (stage, s) in result.stageSeconds {
            if let i = merged.firstIndex(where: { $0.0 == stage }) {
                merged[i].1 += s
            } else {
                merged.append((stage, s))
            }
        }
        for (stage, s) in merged {
            print(
                "  \(stage.padding(toLength: 24, withPad: " ", startingAt: 0)) \(String(format: "%8.2f s", s))"
            )
        }
        if let rss = result.peakRSS {
            print(String(format: "peak memory (RSS): %.2f GB", Double(rss) / 1e9))
        }
    }
}
