// `lattice train CONFIG.json --out DIR [--resume]` and `lattice data shapes --count N --out DIR`:
// thin wrappers over LatticeTraining's TrainingSession / Trainer and ShapeDatasetWriter, with a
// progress bar (step, loss, steps/s, ETA).
import ArgumentParser
import Foundation
import LatticeTensor
import LatticeTraining

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Train a TRELLIS model from an upstream-shaped config: the SS VAE, or the SLat VAE "
            + "(Gaussian), mesh or radiance-field decoder on a `lattice data build` folder.")

    @Argument(help: "Training config JSON ({\"models\", \"dataset\", \"trainer\"}).")
    var config: String

    @Option(help: "Output folder (checkpoints in ckpts/, log.csv, log.json, loss.png).")
    var out: String

    @Flag(help: "Continue from the newest checkpoint in --out.")
    var resume = false

    @Option(help: "Stop after this many steps in total (default: trainer.args.max_steps).")
    var steps: Int?

    func run() throws {
        let configURL = URL(fileURLWithPath: config)
        let outURL = URL(fileURLWithPath: out)
        do {
            let cfg = try TrainingConfig.load(configURL)
            let trainer = try TrainingSession.make(
                cfg, baseDirectory: configURL.deletingLastPathComponent())
            try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
            if resume {
                if let url = try trainer.resume(from: outURL) {
                    print("resumed from \(url.path) at step \(trainer.step)")
                } else {
                    print("no checkpoint in \(outURL.path); starting fresh")
                }
            } else if Trainer.latestCheckpoint(in: outURL) != nil {
                throw LatticeError(
                    .invalidArgument,
                    "\(outURL.path) already holds checkpoints; pass --resume or another --out")
            }
            // Keep the config next to the run, as upstream does.
            try? FileManager.default.removeItem(at: outURL.appendingPathComponent("config.json"))
            try? FileManager.default.copyItem(
                at: configURL, to: outURL.appendingPathComponent("config.json"))
            var bar: ProgressBar?
            try trainer.run(outputDirectory: outURL, stopAt: steps) { p in
                if bar == nil { bar = ProgressBar("train", total: p.maxSteps) }
                bar?.update(
                    p.step, note: String(format: "loss %.5f", p.record.loss),
                    rate: p.stepsPerSecond, eta: p.etaSeconds)
            }
            if let last = trainer.history.last {
                print("done: step \(last.step), loss \(last.loss); outputs in \(outURL.path)")
            }
        } catch let e as LatticeError {
            FileHandle.standardError.write(Data("error: \(e)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Build training data.",
        subcommands: [Shapes.self, DataBuild.self])

    struct Shapes: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Write seeded procedural shapes (OBJ with vertex colours), their surface voxels "
                + "and manifest.json; finished items are kept, so an interrupted run resumes.")

        @Option(help: "Number of shapes.")
        var count: Int

        @Option(help: "Output folder.")
        var out: String

        @Option(help: "Seed of the shape family.")
        var seed: UInt64 = 0

        @Option(help: "Voxel grid resolution.")
        var resolution = 64

        func validate() throws {
            guard count > 0 else { throw ValidationError("--count must be positive") }
            guard resolution > 0 else { throw ValidationError("--resolution must be positive") }
        }

        func run() throws {
            let writer = ShapeDatasetWriter(
                shapes: ProceduralShapes(seed: seed), resolution: resolution)
            var skipped = 0
            do {
                let manifest = try writer.write(
                    count: count, to: URL(fileURLWithPath: out)
                ) { done, total, wasDone in
                    if wasDone { skipped += 1 }
                    FileHandle.standardError.write(Data("\r\(done)/\(total) shapes".utf8))
                }
                FileHandle.standardError.write(Data("\n".utf8))
                let voxels = manifest.items.map(\.numVoxels)
                print(
                    "\(manifest.items.count) shapes (\(skipped) already done), voxels per shape "
                        + "\(voxels.min() ?? 0)...\(voxels.max() ?? 0); manifest at \(out)/manifest.json"
                )
            } catch let e as LatticeError {
                FileHandle.standardError.write(Data("error: \(e)\n".utf8))
                throw ExitCode(2)
            }
        }
    }
}
