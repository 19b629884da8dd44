// `lattice train-default STAGE`: the stages of the embedded default's recipe that are not a plain
// `lattice train CONFIG` (Recipes/embedded-default/train.sh runs them all in order).
import ArgumentParser
import Foundation
import LatticeModels
import LatticeNN
import LatticePipelines
import LatticeTensor
import LatticeTraining

struct TrainDefault: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-default",
        abstract: "Train a stage of the embedded default (see Recipes/embedded-default).",
        subcommands: [
            Photos.self, ImageEncoder.self, StructureFlow.self, SLatVAE.self, MeshDecoder.self,
            GaussianDecoder.self, SLatFlow.self,
            Package.self, Examples.self, ScoreStructure.self, LayeredDepth.self,
        ])

    /// The schedule of the supervised pre-training stages (image encoder, layered depth): AdamW
    /// with weight decay 0.01, 100 warmup steps, cosine to 5%, EMA 0.999, gradient clip 1, a log
    /// line every 50 steps and a checkpoint every 500.
    static func pretrainingOptions(steps: Int, batch: Int, lr: Float, seed: UInt64)
        -> TrainerOptions
    {
        var options = TrainerOptions(maxSteps: steps)
        options.batchSize = batch
        options.learningRate = lr
        options.weightDecay = 0.01
        options.warmupSteps = 100
        options.cosineMinFraction = 0.05
        options.emaRates = [0.999]
        options.gradClip = .fixed(1.0)
        options.logEvery = 50
        options.saveEvery = 500
        options.seed = seed
        return options
    }

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

    /// The SS VAE encoder of a training run folder (config.json and its newest weights).
    static func structureEncoder(_ run: String) throws -> SparseStructureEncoder {
        let url = URL(fileURLWithPath: run)
        let cfg = try TrainingConfig.load(url.appendingPathComponent("config.json"))
        guard case .sparseStructureEncoder(let ec)? = cfg.models["encoder"]?.args else {
            throw LatticeError(
                .invalidConfig, "\(run)/config.json: no SparseStructureEncoder 'encoder'")
        }
        let encoder = try SparseStructureEncoder(ec)
        try loadLatest(encoder, run: run, model: "encoder")
        return encoder
    }

    /// The SS VAE decoder of a training run folder (config.json and its newest weights).
    static func structureDecoder(_ run: String) throws -> SparseStructureDecoder {
        let url = URL(fileURLWithPath: run)
        let cfg = try TrainingConfig.load(url.appendingPathComponent("config.json"))
        guard case .sparseStructureDecoder(let dc)? = cfg.models["decoder"]?.args else {
            throw LatticeError(
                .invalidConfig, "\(run)/config.json: no SparseStructureDecoder 'decoder'")
        }
        let decoder = try SparseStructureDecoder(dc)
        try loadLatest(decoder, run: run, model: "decoder")
        return decoder
    }

    /// Writes `dir`/shape_<item>.json, {"sampled": [[x, y, z], ...], "truth": [...]}, atomically
    /// (the `--dump` of image-encoder and score-structure, for looking at the voxels).
    static func writeVoxels(
        sampled: [SIMD3<Int32>], truth: [SIMD3<Int32>], item: Int, to dir: String
    ) throws {
        let url = URL(fileURLWithPath: dir)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        func list(_ v: [SIMD3<Int32>]) -> String {
            "[" + v.map { "[\($0.x),\($0.y),\($0.z)]" }.joined(separator: ",") + "]"
        }
        try Data("{\"sampled\": \(list(sampled)), \"truth\": \(list(truth))}\n".utf8).write(
            to: url.appendingPathComponent("shape_\(item).json"), options: .atomic)
    }

    /// Loads the newest `<model>_step*.safetensors` of training run `run` into `module`.
    static func loadLatest(_ module: Module, run: String, model: String) throws {
        let weights = try latestWeights(URL(fileURLWithPath: run), model: model)
        try module.load(try SafetensorsFile(url: weights).tensors(), source: weights.path)
    }

    /// SS latents of shapes `0..<count` under the newest encoder of SS VAE run `run`, with a
    /// progress bar; cached in the run folder (keyed by the weights file and count).
    static func structureLatents(
        _ encoder: SparseStructureEncoder, run: String, count: Int
    ) throws -> [[Float]] {
        let weights = try latestWeights(URL(fileURLWithPath: run), model: "encoder")
        let cache = URL(fileURLWithPath: run).appendingPathComponent(
            "latents_\(weights.deletingPathExtension().lastPathComponent)_\(count).safetensors")
        if let file = try? SafetensorsFile(url: cache), let t = try? file.tensor("latents"),
            t.shape.first == count
        {
            let flat = t.float().contiguous().toFloats()
            let per = flat.count / count
            return (0..<count).map { Array(flat[($0 * per)..<(($0 + 1) * per)]) }
        }
        let bar = ProgressBar("SS latents", total: count)
        let latents = try EmbeddedDefault.structureLatents(encoder: encoder, count: count) {
            bar.update(min($0, count))
        }
        try Safetensors.write(
            ["latents": Tensor(latents.flatMap { $0 }, shape: [count, latents[0].count])],
            to: cache)
        return latents
    }

    /// The frozen image encoder of an `image-encoder` run, and its tokens of every bank photo.
    static func cachedTokens(imageEncoder run: String, photos: String) throws
        -> CachedConditionTokens
    {
        let encoder = try DinoVisionTransformer(EmbeddedDefault.imageEncoderConfig)
        try loadLatest(encoder, run: run, model: "image_encoder")
        let bank = try ConditionPhotoBank.read(URL(fileURLWithPath: photos))
        let bar = ProgressBar("tokens", total: bank.count * bank.views)
        return try CachedConditionTokens(bank: bank, encoder: encoder) { bar.update($0) }
    }

    struct Photos: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render the bank of conditioning photos (views of training shapes).")

        @Option(help: "Output safetensors file.")
        var out: String

        @Option(help: "Number of training shapes (items 0..<count).")
        var count = 4000

        @Option(help: "Views per shape.")
        var views = 4

        func run() throws {
            try reportingErrors {
                let bar = ProgressBar("photos", total: count * views)
                let bank = try ConditionPhotoBank.render(count: count, views: views) {
                    bar.update($0)
                }
                try bank.write(to: URL(fileURLWithPath: out))
                print("wrote \(out): \(count) shapes × \(views) views")
            }
        }
    }

    struct ImageEncoder: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "image-encoder",
            abstract:
                "Pre-train the small image encoder to predict each shape's coarse (16³) "
                + "occupancy from one photo: of the photo bank (--photos), or rendered on "
                + "demand from the first --online-count shapes.")

        @Option(help: "The photo bank (train-default photos).")
        var photos: String?

        @Option(
            help: ArgumentHelp(
                "Render photos on demand from this many training shapes (a fresh view per "
                    + "step) instead of reading a bank."))
        var onlineCount: Int?

        @Option(help: "Output folder.")
        var out: String

        @Option(help: "Training steps.")
        var steps = 2000

        @Option(help: "Batch size.")
        var batch = 32

        @Option(help: "Learning rate (AdamW).")
        var lr: Float = 5e-4

        @Option(help: "Held-out shapes to score (16³ occupancy IoU).")
        var heldOut = 48

        @Option(help: "Write each held-out shape's predicted and true 16³ cells here (JSON).")
        var dump: String?

        @Option(
            help: ArgumentHelp(
                "Start from the newest image_encoder weights of this earlier run (and its head's, "
                    + "when it used the same --head)."))
        var initFrom: String?

        @Option(
            help: ArgumentHelp(
                "Pre-training head: query (3D queries cross-attending to the tokens, as the "
                    + "structure flow reads them) or linear (one Linear on the flattened tokens)."))
        var head: ImageEncoderOccupancyPretraining.Head = .query

        @Flag(help: "Continue from the newest checkpoint in --out.")
        var resume = false

        @Option(
            help: ArgumentHelp(
                "Experiment: patch size in pixels (14 is the embedded default's; 7 gives 16×16 "
                    + "tokens). The pipeline and the other stages use the default encoder."))
        var patchSize: Int?

        func run() throws {
            try reportingErrors {
                guard (photos == nil) != (onlineCount == nil) else {
                    throw LatticeError(
                        .invalidArgument, "give one of --photos and --online-count")
                }
                var generator = RandomGenerator(seed: 71)
                var config = EmbeddedDefault.imageEncoderConfig
                if let patchSize {
                    guard patchSize > 0, config.imgSize % patchSize == 0 else {
                        throw LatticeError(
                            .invalidArgument,
                            "--patch-size \(patchSize): expected a divisor of the "
                                + "\(config.imgSize)-pixel input")
                    }
                    config.patchSize = patchSize
                }
                let encoder = try DinoVisionTransformer(config)
                EmbeddedDefault.initializeImageEncoder(encoder, generator: &generator)
                let objective: ImageEncoderOccupancyPretraining
                if let onlineCount {
                    objective = ImageEncoderOccupancyPretraining(
                        encoder: encoder, online: try OnlineConditionPhotos(count: onlineCount),
                        head: head, generator: &generator)
                } else {
                    let bank = try ConditionPhotoBank.read(URL(fileURLWithPath: photos ?? ""))
                    let bar = ProgressBar("voxelize", total: bank.count)
                    let occupancy = (0..<bank.count).map { i -> [Float] in
                        bar.update(i + 1)
                        return ImageEncoderOccupancyPretraining.target(item: i)
                    }
                    objective = try ImageEncoderOccupancyPretraining(
                        encoder: encoder, bank: bank, occupancy: occupancy, head: head,
                        generator: &generator)
                }
                if let initFrom {
                    try TrainDefault.loadLatest(encoder, run: initFrom, model: "image_encoder")
                    // A head of another kind has other keys: it starts fresh.
                    if (try? TrainDefault.loadLatest(objective.head, run: initFrom, model: "head"))
                        == nil
                    {
                        print("--init-from \(initFrom): its head is not a \(head) head; a new one")
                    }
                }
                let options = TrainDefault.pretrainingOptions(
                    steps: steps, batch: batch, lr: lr, seed: 71)
                let trainer = try Trainer(objective: objective, options: options)
                objective.trainer = trainer
                try runTrainingStage(trainer, out: out, resume: resume, label: "image-encoder")
                try score(objective)
            }
        }

        /// 16³ occupancy IoU of the prediction from a front photo of held-out shapes.
        func score(_ objective: ImageEncoderOccupancyPretraining) throws {
            var total = 0.0
            var fTotal = 0.0
            for k in 0..<heldOut {
                let item = EmbeddedDefault.heldOutStart + k
                let truth = ImageEncoderOccupancyPretraining.target(item: item)
                let photo = try EmbeddedDefault.conditionImage(
                    EmbeddedDefault.photo(
                        EmbeddedDefault.shapes.shape(item).mesh,
                        camera: ConditionPhotoBank.camera(item: item, view: 0), size: 192),
                    source: "shape \(item)")
                let logits = try objective.predictLogits(ImagePreprocess.batch([photo])).toFloats()
                var (i, u) = (0, 0)
                for c in truth.indices {
                    let (a, b) = (truth[c] > 0.5, logits[c] > 0)
                    if a && b { i += 1 }
                    if a || b { u += 1 }
                }
                total += Double(i) / Double(max(u, 1))
                let r = Int32(ImageEncoderOccupancyPretraining.targetResolution)
                func cells(_ v: [Float], _ on: (Float) -> Bool) -> [SIMD3<Int32>] {
                    v.indices.filter { on(v[$0]) }.map {
                        SIMD3(Int32($0) / (r * r), Int32($0) / r % r, Int32($0) % r)
                    }
                }
                fTotal +=
                    EmbeddedDefault.structureScore(
                        sampled: cells(logits) { $0 > 0 }, truth: cells(truth) { $0 > 0.5 }
                    ).fScore
                if let dump {
                    try TrainDefault.writeVoxels(
                        sampled: cells(logits) { $0 > 0 }, truth: cells(truth) { $0 > 0.5 },
                        item: item, to: dump)
                }
            }
            print(
                String(
                    format:
                        "held-out 16³ occupancy over %d shapes (front photo): IoU %.3f, voxel F "
                        + "(one cell) %.3f",
                    heldOut, total / Double(heldOut), fTotal / Double(heldOut)))
        }
    }

    struct StructureFlow: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ss-flow",
            abstract:
                "Train the sparse-structure flow on SS latents of procedural shapes, conditioned "
                + "on the frozen pre-trained image encoder's tokens of the photo bank.")

        @Option(help: "The SS VAE training run folder (its newest encoder weights are used).")
        var ssVae: String

        @Option(help: "The photo bank (train-default photos).")
        var photos: String

        @Option(help: "The image-encoder run folder (its newest image_encoder weights).")
        var imageEncoder: String

        @Option(help: "Output folder.")
        var out: String

        @Option(help: "Number of training shapes (at most the bank's).")
        var count = 4000

        @Option(help: "Training steps.")
        var steps = 3000

        @Option(help: "Batch size.")
        var batch = 16

        @Option(help: "Learning rate (AdamW).")
        var lr: Float = 3e-4

        @Option(help: "Start from the newest denoiser weights of this earlier ss-flow run.")
        var initFrom: String?

        @Option(
            help: ArgumentHelp(
                "Mean of the logit-normal timestep distribution (upstream 1: mostly high noise; "
                    + "lower trains the low-noise end, where the fine surface is decided)."))
        var tMean: Float = 1

        @Option(help: "Standard deviation of the logit-normal timestep distribution.")
        var tStd: Float = 1

        @Flag(help: "Continue from the newest checkpoint in --out.")
        var resume = false

        func run() throws {
            try reportingErrors {
                let encoder = try TrainDefault.structureEncoder(ssVae)
                let tokens = try TrainDefault.cachedTokens(
                    imageEncoder: imageEncoder, photos: photos)
                let latents = try TrainDefault.structureLatents(
                    encoder, run: ssVae, count: min(count, tokens.bank.count))
                var options = TrainerOptions(maxSteps: steps)
                options.batchSize = batch
                options.learningRate = lr
                options.warmupSteps = 100
                options.cosineMinFraction = 0.1
                options.emaRates = [0.999]
                options.gradClip = .adaptive(maxNorm: 1.0, percentile: 95, bufferSize: 1000)
                options.logEvery = 50
                options.saveEvery = 250
                options.seed = 2
                let made = try EmbeddedDefault.structureFlowTrainer(
                    latents: latents, tokens: tokens, options: options, seed: 2,
                    initialWeights: try initFrom.map {
                        try TrainDefault.latestWeights(URL(fileURLWithPath: $0), model: "denoiser")
                    }, tSchedule: .logitNormal(mean: tMean, std: tStd))
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

    struct ScoreStructure: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "score-structure",
            abstract:
                "Score an ss-flow run without meshing: structures sampled from a photo of each "
                + "shape against its surface voxels (voxel F-score within one cell, IoU), on "
                + "held-out and on training shapes.")

        @Option(help: "The SS VAE run folder (its newest decoder).")
        var ssVae: String

        @Option(help: "The image-encoder run folder (its newest image_encoder weights).")
        var imageEncoder: String

        @Option(help: "The ss-flow run folder (its newest denoiser weights).")
        var ssFlow: String

        @Option(help: "Instead of the newest: this denoiser weights file.")
        var weights: String?

        @Option(help: "Held-out shapes to score (from the held-out range).")
        var heldOut = 24

        @Option(help: "Training shapes to score (0..<N).")
        var training = 24

        @Option(help: "Sampler steps.")
        var steps = 25

        @Option(help: "Classifier-free guidance strength.")
        var cfg: Double = 3

        @Option(help: "Flow samples per shape; their decoded occupancy probabilities are averaged.")
        var samples = 1

        @Option(help: "Scale of the initial noise (sampling temperature).")
        var noiseScale: Double = 1

        @Option(help: "Sampling seed.")
        var seed: UInt64 = 1

        @Flag(help: "Score the SS VAE's reconstruction of each shape instead (the ceiling).")
        var reconstruct = false

        @Option(help: "Write each shape's sampled and true voxels here (JSON), to look at.")
        var dump: String?

        func run() throws {
            try reportingErrors {
                let decoder = try TrainDefault.structureDecoder(ssVae)
                let encoder = try DinoVisionTransformer(EmbeddedDefault.imageEncoderConfig)
                try TrainDefault.loadLatest(encoder, run: imageEncoder, model: "image_encoder")
                let flow = try SparseStructureFlowModel(try EmbeddedDefault.structureFlowConfig)
                let url =
                    try weights.map { URL(fileURLWithPath: $0) }
                    ?? TrainDefault.latestWeights(URL(fileURLWithPath: ssFlow), model: "denoiser")
                try flow.load(try SafetensorsFile(url: url).tensors(), source: url.path)
                let vae = reconstruct ? try TrainDefault.structureEncoder(ssVae) : nil
                print("scoring \(url.path)")
                for (label, items) in [
                    ("held-out", (0..<heldOut).map { EmbeddedDefault.heldOutStart + $0 }),
                    ("training", Array(0..<training)),
                ] where !items.isEmpty {
                    let bar = ProgressBar(label, total: items.count)
                    let scores = try EmbeddedDefault.scoreStructures(
                        flow: flow, decoder: decoder, imageEncoder: encoder, items: items,
                        steps: steps, cfgStrength: cfg, seed: seed, samples: samples,
                        noiseScale: noiseScale,
                        reconstructWith: vae,
                        progress: { bar.update($0) })
                    if let dump {
                        for (item, s) in zip(items, scores) {
                            try TrainDefault.writeVoxels(
                                sampled: s.sampledVoxels, truth: s.trueVoxels, item: item, to: dump)
                        }
                    }
                    let n = Double(scores.count)
                    print(
                        String(
                            format:
                                "%@ (%d shapes): voxel F %.3f (at 16³: %.3f), IoU %.3f, voxels "
                                + "%.0f sampled / %.0f true",
                            label, scores.count, scores.map(\.fScore).reduce(0, +) / n,
                            scores.map(\.coarseFScore).reduce(0, +) / n,
                            scores.map(\.iou).reduce(0, +) / n,
                            Double(scores.map(\.sampled).reduce(0, +)) / n,
                            Double(scores.map(\.truth).reduce(0, +)) / n))
                }
            }
        }
    }
}

extension ImageEncoderOccupancyPretraining.Head: ExpressibleByArgument {}
