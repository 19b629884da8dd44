// `lattice eval`: scores a TRELLIS model folder on held-out assets (a dataset folder from
// `lattice data build`, or procedural shapes of a family the model never saw) with TRELLIS's
// reconstruction-fidelity protocol and generation metrics; prints a table, writes results.json,
// results.md and a side-by-side PNG per item.
import ArgumentParser
import Foundation
import LatticePipelines
import LatticeTensor
import LatticeTraining

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Evaluate a model folder on held-out assets: SLat VAE reconstruction (PSNR/SSIM of "
            + "Gaussian renders, Chamfer/F-score of the mesh) and image-to-3D generation.")

    @Option(help: "Model folder (pipeline.json + ckpts/).")
    var model: String

    @Option(help: "Held-out dataset folder written by `lattice data build`.")
    var data: String?

    @Option(help: "Instead of --data: this many procedural shapes of family --seed.")
    var procedural: Int?

    @Option(
        help:
            "Shape family of --procedural (the embedded default trains on family 1, so any other is held out)."
    )
    var seed: UInt64 = 2

    @Option(
        help:
            "First shape index of --procedural (e.g. 1000000 with --seed 1: the embedded default's held-out range)."
    )
    var start = 0

    @Option(help: "Only the first N items.")
    var limit: Int?

    @Option(
        help:
            "SLat encoder descriptor JSON (weights beside it as .safetensors) when pipeline.json has no models.slat_encoder."
    )
    var encoder: String?

    @Option(help: "Output folder.")
    var out = "eval-output"

    @Option(help: "Views of each item the reconstruction is scored at.")
    var views = 4

    @Option(help: "Views rendered per procedural item (features average over them).")
    var proceduralViews = 24

    @Option(help: "Render size of procedural items.")
    var imageSize = 96

    @Option(help: "Generation conditioning: photo (shaded render of the GT mesh) or first-view.")
    var conditioning = "photo"

    @Option(help: "Sampler steps of both generation stages (default: pipeline.json's).")
    var steps: Int?

    @Option(help: "Generation seed.")
    var generationSeed: UInt64 = 1

    @Option(help: "Cap on occupied voxels before the SLat stage of generation.")
    var maxVoxels: Int?

    @Option(help: "Background grey (0 black, 1 white) renders and GT views are composited on.")
    var background: Float = 0

    @Flag(help: "Skip the reconstruction protocol.")
    var skipReconstruction = false

    @Flag(help: "Skip the generation protocol.")
    var skipGeneration = false

    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "Generate with the structure stage's guidance (as `lattice generate "
                + "--structure-guidance`)."
                + " Default: as the model folder's pipeline.json says (structure_guidance.enabled)."
        ))
    var structureGuidance: Bool?

    func validate() throws {
        guard (data == nil) != (procedural == nil) else {
            throw ValidationError("give exactly one of --data FOLDER and --procedural N")
        }
        if let procedural, procedural <= 0 {
            throw ValidationError("--procedural must be positive")
        }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive") }
        guard start >= 0 else { throw ValidationError("--start must be >= 0") }
        guard views > 0, proceduralViews > 0, imageSize > 0 else {
            throw ValidationError("--views, --procedural-views and --image-size must be positive")
        }
        guard EvaluationOptions.Conditioning(rawValue: conditioning) != nil else {
            throw ValidationError("--conditioning must be photo or first-view")
        }
        guard !(skipReconstruction && skipGeneration) else {
            throw ValidationError("--skip-reconstruction and --skip-generation leave nothing to do")
        }
    }

    func run() throws {
        do {
            var options = EvaluationOptions(
                modelFolder: URL(fileURLWithPath: model), outputDirectory: URL(fileURLWithPath: out)
            )
            options.encoder = encoder.map { URL(fileURLWithPath: $0) }
            options.views = views
            options.reconstruction = !skipReconstruction
            options.generation = !skipGeneration
            options.conditioning = EvaluationOptions.Conditioning(rawValue: conditioning) ?? .photo
            options.seed = generationSeed
            options.steps = steps
            options.maxVoxels = maxVoxels
            options.background = background
            options.structureGuidance = structureGuidance
            let evaluator = try Evaluator(options: options)
            let source: any SLatSampleSource
            if let data {
                let url = URL(fileURLWithPath: data)
                guard FileManager.default.fileExists(atPath: url.path) else {
                    throw LatticeError(.io, "\(url.path): no such dataset folder")
                }
                let folder = try FolderSLatDataset(root: url, viewsPerItem: views)
                guard folder.count > 0 else {
                    throw LatticeError(.invalidArgument, "\(url.path): no finished items")
                }
                source = LimitedSource(folder, limit: limit)
            } else {
                let n = min(procedural ?? 1, limit ?? .max)
                source = try evaluator.proceduralSource(
                    count: n, seed: seed, start: start, views: proceduralViews, imageSize: imageSize
                )
            }
            print("evaluating \(model) on \(source.count) item(s) -> \(out)")
            let bar = ProgressBar("eval", total: source.count, unit: "items")
            let report = try evaluator.run(source) { done, _, note in
                bar.update(done, note: note)
            }
            print("")
            print(report.table(), terminator: "")
            print(
                "results: \(out)/results.json, \(out)/results.md, \(out)/items/<id>/comparison.png")
            let failed = report.items.filter { !$0.errors.isEmpty }.count
            if failed > 0 { print("\(failed) item(s) had errors (listed above)") }
        } catch let e as LatticeError {
            FileHandle.standardError.write(Data("error: \(e)\n".utf8))
            throw ExitCode(2)
        }
    }
}

/// The first `limit` items of a source.
final class LimitedSource: SLatSampleSource {
    let base: any SLatSampleSource
    let count: Int
    init(_ base: any SLatSampleSource, limit: Int?) {
        self.base = base
        count = min(base.count, limit ?? .max)
    }
    func sample(_ index: Int) throws -> SLatTrainingSample { try base.sample(index) }
}
