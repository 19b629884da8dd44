// `lattice train-default STAGE`: the stages of the embedded default's recipe that are not a plain
// `lattice train CONFIG` (Recipes/embedded-default/train.sh runs them all in order).
import ArgumentParser
import Foundation
import LatticeModels
import LatticeNN
import LatticeTensor
import LatticeTraining

struct TrainDefault: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-default",
        abstract: "Train a stage of the embedded default (see Recipes/embedded-default).",
        subcommands: [
            StructureFlow.self, SLatVAE.self, MeshDecoder.self, GaussianDecoder.self, SLatFlow.self,
            Package.self, Examples.self,
        ])

    /// The newest weights export of `model` in a training run folder. The recipe's runs are
    /// short, so it takes the trained weights, not the EMA copy (an EMA without bias correction
    /// still holds 0.999^1200 ≈ 30% of the initial weights after 1200 steps).
    static func latestWeights(_ run: URL, model: String) throws -> URL {
        let dir = run.appendingPathComponent("ckpts")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        guard
            let name = names.filter({
                $0.hasPrefix("\(model)_step") && $0.hasSuffix(".safetensors")
            })
            .sorted().last
        else {
            throw LatticeError(
                .io, "\(dir.path): no \(model)_step*.safetensors (train that stage first)")
        }
        return dir.appendingPathComponent(name)
    }

    struct StructureFlow: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ss-flow",
            abstract:
                "Train the sparse-structure flow jointly with the small image encoder on SS latents "
                + "of procedural shapes (needs the SS VAE run).")

        @Option(help: "The SS VAE training run folder (its newest encoder weights are used).")
        var ssVae: String

        @Option(help: "Output folder.")
        var out: String

        @Option(help: "Number of training shapes.")
        var count = 2000

        @Option(help: "Training steps.")
        var steps = 3000

        @Option(help: "Batch size.")
        var batch = 8

        @Option(help: "Learning rate (AdamW).")
        var lr: Float = 3e-4

        @Flag(help: "Continue from the newest checkpoint in --out.")
        var resume = false

        func run() throws {
            try reportingErrors {
                let vaeRun = URL(fileURLWithPath: ssVae)
                let cfg = try TrainingConfig.load(vaeRun.appendingPathComponent("config.json"))
                guard case .sparseStructureEncoder(let ec)? = cfg.models["encoder"]?.args else {
                    throw LatticeError(
                        .invalidConfig, "\(ssVae)/config.json: no SparseStructureEncoder 'encoder'")
                }
                let encoder = try SparseStructureEncoder(ec)
                let weights = try TrainDefault.latestWeights(vaeRun, model: "encoder")
                try encoder.load(try SafetensorsFile(url: weights).tensors(), source: weights.path)
                let bar = ProgressBar("SS latents", total: count)
                let latents = try EmbeddedDefault.structureLatents(encoder: encoder, count: count) {
                    bar.update($0)
                }
                var options = TrainerOptions(maxSteps: steps)
                options.batchSize = batch
                options.learningRate = lr
                options.warmupSteps = 100
                options.emaRates = [0.999]
                options.gradClip = .adaptive(maxNorm: 1.0, percentile: 95, bufferSize: 1000)
                options.logEvery = 50
                options.saveEvery = 250
                options.seed = 2
                let made = try EmbeddedDefault.structureFlowTrainer(
                    latents: latents, options: options, seed: 2)
                try runTrainingStage(made.trainer, out: out, resume: resume, label: "ss-flow")
            }
        }
    }

    struct Examples: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the demo's example photos of held-out shapes and their meshes.")

        @Option(help: "Model folder to write examples/ into.")
        var out: String

        @Option(help: "Number of examples.")
        var count = 4

        func run() throws {
            let names = try EmbeddedDefault.writeExamples(
                count: count, to: URL(fileURLWithPath: out))
            print("wrote \(names.count) examples: \(names.joined(separator: ", "))")
        }
    }
}
