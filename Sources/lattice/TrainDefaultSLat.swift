// `lattice train-default` stages of the structured-latent half (see EmbeddedDefaultSLat.swift):
// slat-vae (encoder + mesh decoder), gs-decoder (on the frozen encoder), slat-flow, package.
import ArgumentParser
import Foundation
import LatticeModels
import LatticeNN
import LatticePipelines
import LatticeTensor
import LatticeTraining

/// Shared options of the SLat stages.
struct SLatStageOptions: ParsableArguments {
    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Number of training shapes.")
    var count = 400

    @Option(help: "Training steps.")
    var steps = 400

    @Option(help: "Batch size.")
    var batch = 2

    @Option(help: "Learning rate (AdamW).")
    var lr: Float = 3e-4

    @Flag(help: "Continue from the newest checkpoint in --out.")
    var resume = false

    func options(seed: UInt64) -> TrainerOptions {
        var o = TrainerOptions(maxSteps: steps)
        o.batchSize = batch
        o.learningRate = lr
        o.warmupSteps = 50
        o.emaRates = [0.99]
        o.gradClip = .adaptive(maxNorm: 1.0, percentile: 95, bufferSize: 1000)
        o.logEvery = 25
        o.saveEvery = 100
        o.seed = seed
        return o
    }

    /// Runs `trainer` to the end with a progress bar, resuming when asked.
    func run(_ trainer: Trainer, label: String) throws {
        try runTrainingStage(trainer, out: out, resume: resume, label: label)
    }
}

/// Runs a recipe stage's `trainer` to its end in `out` (resuming from its newest checkpoint when
/// `resume`), with a progress bar showing the loss and up to four of its terms.
func runTrainingStage(_ trainer: Trainer, out: String, resume: Bool, label: String) throws {
    let url = URL(fileURLWithPath: out)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    if resume, let from = try trainer.resume(from: url) {
        print("resumed from \(from.path) at step \(trainer.step)")
    }
    let bar = ProgressBar(label, total: trainer.options.maxSteps)
    try trainer.run(outputDirectory: url) { p in
        let terms = p.record.terms.keys.sorted().filter { $0 != "loss" }.prefix(4)
            .map { String(format: "%@ %.4f", $0, p.record.terms[$0] ?? 0) }
        bar.update(
            p.step,
            note: String(format: "loss %.4f ", p.record.loss) + terms.joined(separator: " "),
            rate: p.stepsPerSecond, eta: p.etaSeconds)
    }
    if let last = trainer.history.last {
        print("done: step \(last.step), loss \(last.loss); outputs in \(url.path)")
    }
}

/// Runs `body`, turning a LatticeError into a message and exit code 2.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as LatticeError {
        FileHandle.standardError.write(Data("error: \(e)\n".utf8))
        throw ExitCode(2)
    }
}

extension TrainDefault {
    struct SLatVAE: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "slat-vae",
            abstract: "Train the SLat encoder jointly with the mesh decoder (TSDF, FlexiCubes "
                + "regularisers, colour) on procedural shapes.")

        @OptionGroup var stage: SLatStageOptions

        func run() throws {
            try reportingErrors {
                var generator = RandomGenerator(seed: 31)
                guard
                    let encoder = try TrellisModels.build(
                        EmbeddedDefault.descriptor("slat_encoder")) as? SLatEncoder,
                    let decoder = try TrellisModels.build(
                        EmbeddedDefault.descriptor("slat_decoder_mesh")) as? SLatMeshDecoder
                else {
                    throw LatticeError(.invalidConfig, "embedded default: SLat VAE descriptors")
                }
                SparseStructureVaeTrainer.initialize(encoder, generator: &generator)
                SLatVaeMeshDecoderTrainer.initialize(decoder, generator: &generator)
                let objective = try SLatVaeMeshDecoderTrainer(
                    decoder: decoder, encoder: encoder, trainEncoder: true,
                    data: EmbeddedDefault.slatSource(count: stage.count), latentMode: .sample)
                try stage.run(
                    try Trainer(objective: objective, options: stage.options(seed: 31)),
                    label: "slat-vae")
            }
        }
    }

    struct MeshDecoder: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mesh-decoder",
            abstract: "Continue the mesh decoder of a slat-vae run on its frozen encoder.")

        @OptionGroup var stage: SLatStageOptions

        @Option(help: "The slat-vae run folder (its encoder and decoder weights).")
        var slatVae: String

        func run() throws {
            try reportingErrors {
                let run = URL(fileURLWithPath: slatVae)
                let encoder = try EmbeddedDefault.load(
                    "slat_encoder", weights: TrainDefault.latestWeights(run, model: "encoder"),
                    as: SLatEncoder.self)
                let decoder = try EmbeddedDefault.load(
                    "slat_decoder_mesh", weights: TrainDefault.latestWeights(run, model: "decoder"),
                    as: SLatMeshDecoder.self)
                let objective = try SLatVaeMeshDecoderTrainer(
                    decoder: decoder, encoder: encoder, trainEncoder: false,
                    data: EmbeddedDefault.slatSource(count: stage.count), latentMode: .sample)
                try stage.run(
                    try Trainer(objective: objective, options: stage.options(seed: 61)),
                    label: "mesh-decoder")
            }
        }
    }

    struct GaussianDecoder: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gs-decoder",
            abstract: "Train the Gaussian decoder on the frozen SLat encoder (rendered L1 + SSIM).")

        @OptionGroup var stage: SLatStageOptions

        @Option(help: "The slat-vae run folder (its newest encoder weights).")
        var slatVae: String

        func run() throws {
            try reportingErrors {
                var generator = RandomGenerator(seed: 41)
                let encoder = try EmbeddedDefault.load(
                    "slat_encoder",
                    weights: TrainDefault.latestWeights(
                        URL(fileURLWithPath: slatVae), model: "encoder"),
                    as: SLatEncoder.self)
                guard
                    let decoder = try TrellisModels.build(
                        EmbeddedDefault.descriptor("slat_decoder_gs")) as? SLatGaussianDecoder
                else {
                    throw LatticeError(.invalidConfig, "embedded default: GS decoder descriptor")
                }
                SLatVaeGaussianTrainer.initialize(decoder, generator: &generator)
                let objective = try SLatVaeGaussianTrainer(
                    encoder: encoder, decoder: decoder,
                    data: EmbeddedDefault.slatSource(count: stage.count),
                    trainEncoder: false)
                try stage.run(
                    try Trainer(objective: objective, options: stage.options(seed: 41)),
                    label: "gs-decoder")
            }
        }
    }

    struct SLatFlow: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "slat-flow",
            abstract:
                "Train the SLat flow on the frozen encoder's normalised latents, conditioned by "
                + "the frozen small image encoder.")

        @OptionGroup var stage: SLatStageOptions

        @Option(help: "The slat-vae run folder (its newest encoder weights).")
        var slatVae: String

        @Option(help: "The image-encoder run folder (its newest image_encoder weights).")
        var imageEncoder: String

        @Option(help: "The photo bank (train-default photos).")
        var photos: String

        @Option(help: "Start from the newest denoiser weights of this earlier slat-flow run.")
        var initFrom: String?

        func run() throws {
            try reportingErrors {
                let encoder = try EmbeddedDefault.load(
                    "slat_encoder",
                    weights: TrainDefault.latestWeights(
                        URL(fileURLWithPath: slatVae), model: "encoder"),
                    as: SLatEncoder.self)
                let tokens = try TrainDefault.cachedTokens(
                    imageEncoder: imageEncoder, photos: photos)
                let source = EmbeddedDefault.slatSource(count: stage.count)
                var latents: [[Float]] = []
                var coords: [[SIMD3<Int32>]] = []
                let bar = ProgressBar("encode", total: stage.count)
                for i in 0..<stage.count {
                    let s = try source.sample(i)
                    latents.append(try EmbeddedDefault.encodeMean(encoder, s))
                    coords.append(s.coords)
                    bar.update(i + 1)
                }
                let stats = EmbeddedDefault.latentStatistics(latents, channels: 8)
                let url = URL(fileURLWithPath: stage.out)
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
                let json = try JSONSerialization.data(
                    withJSONObject: [
                        "mean": stats.mean.map(Double.init), "std": stats.std.map(Double.init),
                    ])
                try json.write(
                    to: url.appendingPathComponent("slat_normalization.json"), options: .atomic)
                print("latent mean \(stats.mean), std \(stats.std)")
                let made = try EmbeddedDefault.slatFlowTrainer(
                    latents: latents, coords: coords, normalization: stats,
                    tokens: tokens, options: stage.options(seed: 51), seed: 51,
                    initialWeights: try initFrom.map {
                        try TrainDefault.latestWeights(URL(fileURLWithPath: $0), model: "denoiser")
                    })
                try stage.run(made.trainer, label: "slat-flow")
            }
        }
    }

    struct Package: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Assemble the embedded model folder from the stage runs' newest weights.")

        @Option var ssVae: String
        @Option var ssFlow: String
        @Option var imageEncoder: String
        @Option var slatVae: String
        @Option var gsDecoder: String
        @Option var slatFlow: String
        @Option(help: "A mesh-decoder run continuing the slat-vae run's decoder (optional).")
        var meshDecoder: String?
        @Option(help: "A layered-depth run (train-default layered-depth) to ship as the prior.")
        var layeredDepth: String?
        @Option(help: "Model folder to write (pipeline.json, ckpts/, image_encoder.*).")
        var out: String
        @Option var steps = 25
        @Option var cfg = 3.0

        func run() throws {
            try reportingErrors {
                func w(_ run: String, _ model: String) throws -> URL {
                    try TrainDefault.latestWeights(URL(fileURLWithPath: run), model: model)
                }
                let models: [EmbeddedDefault.PackagedModel] = [
                    .init(
                        key: "sparse_structure_flow_model", stem: "ss_flow_img_dit_lattice_8l8",
                        descriptor: try EmbeddedDefault.descriptor("sparse_structure_flow_model"),
                        weights: try w(ssFlow, "denoiser")),
                    .init(
                        key: "sparse_structure_decoder", stem: "ss_dec_conv3d_lattice_8l8",
                        descriptor: try EmbeddedDefault.descriptor("sparse_structure_decoder"),
                        weights: try w(ssVae, "decoder")),
                    .init(
                        key: "slat_flow_model", stem: "slat_flow_img_dit_lattice_32l8p2",
                        descriptor: try EmbeddedDefault.descriptor("slat_flow_model"),
                        weights: try w(slatFlow, "denoiser")),
                    .init(
                        key: "slat_decoder_gs", stem: "slat_dec_gs_swin8_lattice_32l8gs16",
                        descriptor: try EmbeddedDefault.descriptor("slat_decoder_gs"),
                        weights: try w(gsDecoder, "decoder")),
                    .init(
                        key: "slat_decoder_mesh", stem: "slat_dec_mesh_swin8_lattice_32l8m256c",
                        descriptor: try EmbeddedDefault.descriptor("slat_decoder_mesh"),
                        weights: try w(meshDecoder ?? slatVae, "decoder")),
                    .init(
                        key: "slat_encoder", stem: "slat_enc_swin8_lattice_32l8",
                        descriptor: try EmbeddedDefault.descriptor("slat_encoder"),
                        weights: try w(slatVae, "encoder")),
                    .init(
                        key: "image_cond_model", stem: "image_encoder",
                        descriptor: try EmbeddedDefault.imageEncoderDescriptor(),
                        weights: try w(imageEncoder, "image_encoder")),
                ]
                let normURL = URL(fileURLWithPath: slatFlow).appendingPathComponent(
                    "slat_normalization.json")
                guard let data = try? Data(contentsOf: normURL),
                    let obj = try JSONSerialization.jsonObject(with: data) as? [String: [Double]],
                    let mean = obj["mean"], let std = obj["std"]
                else { throw LatticeError(.io, "\(normURL.path): missing or not {mean, std}") }
                try EmbeddedDefault.writeModelFolder(
                    models, slatNormalization: (mean.map(Float.init), std.map(Float.init)),
                    samplerSteps: steps, cfgStrength: cfg,
                    layeredDepth: try layeredDepth.map { try w($0, "layered_depth") },
                    to: URL(fileURLWithPath: out))
                print("wrote \(out)")
            }
        }
    }
}
