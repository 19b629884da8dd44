// `lattice train-default layered-depth`: the embedded default's one-photo reconstruction prior.
import ArgumentParser
import Foundation
import LatticeModels
import LatticePipelines
import LatticeTensor
import LatticeTraining

extension TrainDefault {
    struct LayeredDepth: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "layered-depth",
            abstract:
                "Train the layered-depth prior (front and back depth of each pixel of the "
                + "conditioning crop, and the camera) on the photo bank, and score its lifted "
                + "surface on held-out shapes.")

        @Option(help: "The photo bank (train-default photos); or --online.")
        var photos: String?

        @Option(
            help: ArgumentHelp(
                "Render photos on demand from this many training shapes instead of a bank (a "
                    + "fresh view of each shape every step)."))
        var online: Int?

        @Option(help: "Base channels of the refinement U-Net (0: none, as the first priors).")
        var refineChannels = 32

        @Flag(help: "Let the head read where the crop lies in the photo (crop_input).")
        var cropInput = false

        @Option(
            help: ArgumentHelp(
                "Inside intervals per ray: 1 (front, back) or 2 (also first exit and last entry, "
                    + "so a gap along the ray stays empty). --init-from a one-interval run starts "
                    + "at its maps."))
        var intervals = 1

        @Option(help: "Output folder.")
        var out: String

        @Option(help: "Training steps.")
        var steps = 2000

        @Option(help: "Batch size.")
        var batch = 32

        @Option(help: "Learning rate (AdamW).")
        var lr: Float = 5e-4

        @Option(help: "Weight of the depth-gradient L1 term (0: plain depth L1).")
        var gradientWeight: Float = 0

        @Option(help: "Held-out shapes to score.")
        var heldOut = 24

        @Option(
            help: ArgumentHelp(
                "Start the ViT from these image-encoder weights (a safetensors file with the "
                    + "image encoder's keys, e.g. the model folder's image_encoder.safetensors, or "
                    + "an earlier layered-depth run's weights file)."))
        var initEncoder: String?

        @Option(help: "Start from the newest layered_depth weights of this earlier run.")
        var initFrom: String?

        @Option(
            help: ArgumentHelp(
                "Seed of the batches and views (a continuation with another seed sees other "
                    + "online shapes than the run it starts from)."))
        var seed: UInt64 = 73

        @Flag(help: "Continue from the newest checkpoint in --out.")
        var resume = false

        @Option(help: "Write each held-out shape's depth maps (true and predicted) here as PNG.")
        var dump: String?

        @Flag(help: "Only score the newest weights in --out (no training).")
        var scoreOnly = false

        func run() throws {
            try reportingErrors {
                var generator = RandomGenerator(seed: 73)
                let model = try LatticePipelines.LayeredDepthModel(
                    EmbeddedDefault.layeredDepthConfig(
                        refineChannels: refineChannels, cropInput: cropInput,
                        intervals: intervals))
                model.resetParameters(generator: &generator)
                EmbeddedDefault.initializeImageEncoder(model.encoder, generator: &generator)
                if let initEncoder {
                    // An image encoder's keys, or a layered-depth run's weights (`encoder.*`).
                    let url = URL(fileURLWithPath: initEncoder)
                    var weights = try SafetensorsFile(url: url).tensors()
                    if weights.keys.contains(where: { $0.hasPrefix("encoder.") }) {
                        weights = Dictionary(
                            uniqueKeysWithValues: weights.compactMap { k, v in
                                k.hasPrefix("encoder.") ? (String(k.dropFirst(8)), v) : nil
                            })
                    }
                    try model.encoder.load(weights, source: url.path)
                }
                if let initFrom {
                    // A run without the refinement U-Net or the crop planes starts this one at
                    // exactly its maps (adaptLayeredDepthWeights).
                    let url = try TrainDefault.latestWeights(
                        URL(fileURLWithPath: initFrom), model: "layered_depth")
                    let weights = EmbeddedDefault.adaptLayeredDepthWeights(
                        try SafetensorsFile(url: url).tensors(), to: model)
                    try model.load(weights, source: url.path)
                }
                if scoreOnly {
                    try TrainDefault.loadLatest(model, run: out, model: "layered_depth")
                    try score(model)
                    return
                }
                let objective: LayeredDepthPretraining
                switch (photos, online) {
                case (let photos?, nil):
                    let bank = try ConditionPhotoBank.read(URL(fileURLWithPath: photos))
                    objective = LayeredDepthPretraining(
                        model: model, bank: bank, gradientWeight: gradientWeight)
                case (nil, let count?):
                    objective = LayeredDepthPretraining(
                        model: model, online: try OnlineConditionPhotos(count: count),
                        gradientWeight: gradientWeight)
                default:
                    throw ValidationError("give exactly one of --photos and --online")
                }
                let options = TrainDefault.pretrainingOptions(
                    steps: steps, batch: batch, lr: lr, seed: seed)
                let trainer = try Trainer(objective: objective, options: options)
                objective.trainer = trainer
                try runTrainingStage(trainer, out: out, resume: resume, label: "layered-depth")
                try score(model)
            }
        }

        func score(_ model: LatticePipelines.LayeredDepthModel) throws {
            let items = (0..<heldOut).map { EmbeddedDefault.heldOutStart + $0 }
            let bar = ProgressBar("score", total: items.count)
            let scores = try EmbeddedDefault.scoreLayeredDepth(
                model, items: items, dump: dump.map { URL(fileURLWithPath: $0) }
            ) {
                bar.update($0)
            }
            func mean(_ k: KeyPath<EmbeddedDefault.LayeredDepthScore, Double>) -> Double {
                scores.map { $0[keyPath: k] }.reduce(0, +) / Double(max(scores.count, 1))
            }
            for (item, s) in zip(items, scores) {
                print(
                    String(
                        format: "shape %d: depth L1 %.4f (front %.4f, back %.4f, gap %.4f), yaw "
                            + "err %.3f, pitch err %.3f, fov err %.1f, voxel F %.3f (true camera "
                            + "%.3f, true depth %.3f, true front and back alone %.3f)",
                        item, s.depthL1, s.frontL1, s.backL1, s.gapL1, s.yawError, s.pitchError,
                        s.fovError, s.fScore, s.fScoreTrueCamera, s.fScoreTrueDepth,
                        s.fScoreTrueDepthOneInterval))
            }
            print(
                String(
                    format: "held-out mean over %d shapes: depth L1 %.4f (front %.4f, back %.4f, "
                        + "gap %.4f), yaw err %.3f, pitch err %.3f, fov err %.1f; lifted voxel F "
                        + "%.3f (true camera %.3f, true depth and camera %.3f, true front and "
                        + "back alone %.3f)",
                    scores.count, mean(\.depthL1), mean(\.frontL1), mean(\.backL1),
                    mean(\.gapL1), mean(\.yawError), mean(\.pitchError),
                    mean(\.fovError), mean(\.fScore), mean(\.fScoreTrueCamera),
                    mean(\.fScoreTrueDepth), mean(\.fScoreTrueDepthOneInterval)))
        }
    }
}
