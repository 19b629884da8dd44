// `lattice data build`: a thin wrapper over LatticeTraining's SLatDatasetBuilder (TRELLIS's data
// toolkit: render, voxelize, extract features) with a progress bar. Exit status: 0 when every
// item is done, the number of failed items (capped at 100) otherwise, 101 when the run itself
// could not go on (bad folder, settings that differ from the existing manifest).
import ArgumentParser
import Foundation
import LatticeTensor
import LatticeTraining

struct DataBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract:
            "Build an SLat training dataset (renders + transforms.json, voxels, per-voxel "
            + "features) from a folder of meshes or from procedural shapes; resumable.",
        discussion: """
            Each mesh is normalised to unit max extent and centred, rendered from --views cameras \
            on TRELLIS's Hammersley distribution (radius 2, fov 40°; shading: colour × (0.45 + \
            0.55·max(0, n·l)), l towards (4, 1, 6)), voxelized at --resolution, and each voxel gets \
            the average of the view features at its projections. Features: DINOv2 patch tokens \
            with --dinov2 (upstream), else a 16-channel colour-and-context feature. Finished items \
            are kept, so an interrupted run resumes; a bad mesh marks its item failed and the run \
            goes on. Exit status: 0 when all items are done, else the number of failed items \
            (at most 100); 101 when the run itself fails.
            """)

    @Option(help: "Folder of .obj/.ply/.glb meshes (one item per file).")
    var meshes: String?

    @Option(help: "Number of procedural shapes instead of --meshes.")
    var procedural: Int?

    @Option(help: "Output dataset folder.")
    var out: String

    @Option(help: "Seed of the procedural shapes and the per-item camera offsets.")
    var seed: UInt64 = 0

    @Option(help: "Views per item.")
    var views = 150

    @Option(help: "Render size in pixels.")
    var imageSize = 512

    @Option(help: "Voxel grid resolution.")
    var resolution = 64

    @Option(help: "Rasterizer supersampling.")
    var ssaa = 2

    @Option(help: "DINOv2 ViT-L/14-reg weights (safetensors); default: the lightweight extractor.")
    var dinov2: String?

    func validate() throws {
        guard (meshes == nil) != (procedural == nil) else {
            throw ValidationError("give exactly one of --meshes and --procedural")
        }
        if let procedural, procedural <= 0 {
            throw ValidationError("--procedural must be positive")
        }
        for (name, v) in [
            ("--views", views), ("--image-size", imageSize), ("--resolution", resolution),
            ("--ssaa", ssaa),
        ] where v <= 0 {
            throw ValidationError("\(name) must be positive (got \(v))")
        }
    }

    func run() throws {
        do {
            let extractor: any ViewFeatureExtractor =
                try dinov2.map { try DinoV2FeatureExtractor(weights: URL(fileURLWithPath: $0)) }
                ?? ColorContextFeatureExtractor()
            let options = SLatDatasetOptions(
                views: views, imageSize: imageSize, resolution: resolution, ssaa: ssaa, seed: seed)
            let input: SLatDatasetInput =
                meshes.map { .meshFolder(URL(fileURLWithPath: $0)) }
                ?? .procedural(count: procedural ?? 0, seed: seed)
            let builder = SLatDatasetBuilder(
                root: URL(fileURLWithPath: out), options: options, extractor: extractor)
            var bar: ProgressBar?
            let start = Date()
            let manifest = try builder.build(input) { p in
                if bar == nil { bar = ProgressBar("data build", total: p.total, unit: "items") }
                if p.lastItem.status == .failed {
                    FileHandle.standardError.write(
                        Data("\nitem \(p.lastItem.id) failed: \(p.lastItem.error ?? "?")\n".utf8))
                }
                // Rate over built items only: skipped ones cost nothing.
                let elapsed = Date().timeIntervalSince(start)
                let built = p.built + p.failed
                let rate = elapsed > 0 ? Double(built) / elapsed : 0
                bar?.update(
                    p.done, note: "built \(p.built) skipped \(p.skipped) failed \(p.failed)",
                    rate: rate, eta: rate > 0 ? Double(p.total - p.done) / rate : 0)
            }
            let done = manifest.items.filter { $0.status == .done }
            let failed = manifest.items.filter { $0.status == .failed }
            let voxels = done.compactMap(\.numVoxels)
            print(
                "\(done.count) of \(manifest.items.count) items done, \(failed.count) failed; "
                    + "voxels per item \(voxels.min() ?? 0)...\(voxels.max() ?? 0); features "
                    + "\(manifest.featureExtractor) (\(manifest.featureChannels) channels); "
                    + "manifest at \(out)/manifest.json")
            if !failed.isEmpty {
                for item in failed { print("failed: \(item.id): \(item.error ?? "?")") }
                throw ExitCode(Int32(min(failed.count, 100)))
            }
        } catch let e as LatticeError {
            FileHandle.standardError.write(Data("error: \(e)\n".utf8))
            throw ExitCode(101)
        }
    }
}
