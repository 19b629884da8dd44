// Builds a Trainer from a TrainingConfig: the models named in "models" (initialised as
// upstream from the run's seed), the dataset, and the objective named in "trainer".
import Foundation
import LatticeModels
import LatticeNN
import LatticeTensor

/// Config -> ready-to-run Trainer.
public enum TrainingSession {
    /// A trainer for `config`. The SS VAE reads its voxels from `dataset.args.roots` (relative
    /// paths resolve against `baseDirectory`) or generates procedural shapes. Flow trainers
    /// need `latents` and `condition` sources (see `ImageConditionedFlowMatchingCFGTrainer`);
    /// SLat flow trainers need `slatFlowData` (see `SLatFlowMatchingTrainer`). `extraModels`
    /// are trained jointly with a flow denoiser (e.g. the encoder producing the condition);
    /// the SLat VAE and decoder trainers take `slatData`, else read `dataset.args.roots`.
    public static func make(
        _ config: TrainingConfig, baseDirectory: URL? = nil,
        flowData: (
            count: Int, latents: ([Int]) throws -> Tensor, condition: ([Int]) throws -> Tensor
        )? =
            nil,
        slatFlowData: (
            count: Int, latents: (Int) throws -> SLatFlowMatchingTrainer.LatentItem,
            condition: ([Int]) throws -> Tensor
        )? = nil,
        extraModels: [(name: String, module: Module)] = [],
        slatData: SLatSampleSource? = nil
    ) throws -> Trainer {
        let args = config.trainer.args
        let options = try args.options()
        var generator = RandomGenerator(seed: splitMix(options.seed ^ 0x1417))
        switch config.trainer.name {
        case "SparseStructureVaeTrainer":
            guard case .sparseStructureEncoder(let ec)? = config.models["encoder"]?.args,
                case .sparseStructureDecoder(let dc)? = config.models["decoder"]?.args
            else {
                throw LatticeError(
                    .invalidConfig,
                    "models: SparseStructureVaeTrainer needs 'encoder' (SparseStructureEncoder) "
                        + "and 'decoder' (SparseStructureDecoder)")
            }
            try checkOnly(config, ["encoder", "decoder"])
            let encoder = try SparseStructureEncoder(ec)
            let decoder = try SparseStructureDecoder(dc)
            SparseStructureVaeTrainer.initialize(encoder, generator: &generator)
            SparseStructureVaeTrainer.initialize(decoder, generator: &generator)
            guard
                let lossType = SparseStructureVaeTrainer.LossType(rawValue: args.lossType ?? "bce")
            else {
                throw LatticeError(
                    .invalidConfig,
                    "trainer.args.loss_type: '\(args.lossType ?? "")' (expected bce, l1 or dice)")
            }
            let data = try voxelDataset(config.dataset, baseDirectory: baseDirectory)
            let objective = SparseStructureVaeTrainer(
                encoder: encoder, decoder: decoder, data: data, lossType: lossType,
                lambdaKL: Float(args.lambdaKl ?? 1e-6))
            return try Trainer(objective: objective, options: options)
        case "FlowMatchingCFGTrainer", "ImageConditionedFlowMatchingCFGTrainer":
            guard case .sparseStructureFlow(let fc)? = config.models["denoiser"]?.args else {
                throw LatticeError(
                    .invalidConfig,
                    "models: \(config.trainer.name) needs 'denoiser' (SparseStructureFlowModel)")
            }
            try checkOnly(config, ["denoiser"])
            guard let flowData else {
                throw LatticeError(
                    .unsupported,
                    "dataset '\(config.dataset.name)': flow training needs encoded SS latents and "
                        + "image conditions, which the CLI cannot produce yet (use the library "
                        + "API with latent and condition sources)")
            }
            let denoiser = try SparseStructureFlowModel(fc)
            ImageConditionedFlowMatchingCFGTrainer.initialize(denoiser, generator: &generator)
            let objective = ImageConditionedFlowMatchingCFGTrainer(
                denoiser: denoiser, datasetCount: flowData.count,
                sigmaMin: Float(args.sigmaMin ?? 1e-5), pUncond: Float(args.pUncond ?? 0.1),
                tSchedule: try timeSchedule(args.tSchedule), extraModels: extraModels,
                latents: flowData.latents, condition: flowData.condition)
            return try Trainer(objective: objective, options: options)
        case "SparseFlowMatchingCFGTrainer", "ImageConditionedSparseFlowMatchingCFGTrainer":
            guard case .slatFlow(let fc)? = config.models["denoiser"]?.args else {
                throw LatticeError(
                    .invalidConfig,
                    "models: \(config.trainer.name) needs 'denoiser' (SLatFlowModel)")
            }
            try checkOnly(config, ["denoiser"])
            guard let slatFlowData else {
                throw LatticeError(
                    .unsupported,
                    "dataset '\(config.dataset.name)': SLat flow training needs encoded structured "
                        + "latents and image conditions, which the CLI cannot produce yet (use the "
                        + "library API with latent and condition sources)")
            }
            let denoiser = try SLatFlowModel(fc)
            SLatFlowMatchingTrainer.initialize(denoiser, generator: &generator)
            let objective = SLatFlowMatchingTrainer(
                denoiser: denoiser, datasetCount: slatFlowData.count,
                sigmaMin: Float(args.sigmaMin ?? 1e-5), pUncond: Float(args.pUncond ?? 0.1),
                tSchedule: try timeSchedule(args.tSchedule), extraModels: extraModels,
                latents: slatFlowData.latents, condition: slatFlowData.condition)
            return try Trainer(objective: objective, options: options)
        case "SLatVaeGaussianTrainer":
            guard case .slatEncoder(let ec)? = config.models["encoder"]?.args,
                case .slatGaussianDecoder(let dc)? = config.models["decoder"]?.args
            else {
                throw LatticeError(
                    .invalidConfig,
                    "models: SLatVaeGaussianTrainer needs 'encoder' (SLatEncoder) and 'decoder' "
                        + "(SLatGaussianDecoder)")
            }
            try checkOnly(config, ["encoder", "decoder"])
            let slatData = try slatSource(config, baseDirectory: baseDirectory, given: slatData)
            let encoder = try SLatEncoder(ec)
            let decoder = try SLatGaussianDecoder(dc)
            SLatVaeGaussianTrainer.initialize(encoder, generator: &generator)
            SLatVaeGaussianTrainer.initialize(decoder, generator: &generator)
            let lossType = try pixelLossType(args)
            let regs = args.regularizations ?? [:]
            for key in regs.keys.sorted() where key != "lambda_vol" && key != "lambda_opacity" {
                throw LatticeError(
                    .invalidConfig,
                    "trainer.args.regularizations: unknown field '\(key)' (known: lambda_vol, "
                        + "lambda_opacity)")
            }
            let objective = try SLatVaeGaussianTrainer(
                encoder: encoder, decoder: decoder, data: slatData, lossType: lossType,
                lambdaSSIM: Float(args.lambdaSsim ?? 0.2), lambdaKL: Float(args.lambdaKl ?? 1e-6),
                lambdaVolume: regs["lambda_vol"].map { Float($0) },
                lambdaOpacity: regs["lambda_opacity"].map { Float($0) },
                viewsPerItem: args.viewsPerItem ?? 1)
            return try Trainer(objective: objective, options: options)
        case "SLatVaeMeshDecoderTrainer":
            guard case .slatMeshDecoder(let dc)? = config.models["decoder"]?.args else {
                throw LatticeError(
                    .invalidConfig,
                    "models: SLatVaeMeshDecoderTrainer needs 'decoder' (SLatMeshDecoder)")
            }
            try checkOnly(config, ["encoder", "decoder"])
            let data = try slatSource(config, baseDirectory: baseDirectory, given: slatData)
            let decoder = try SLatMeshDecoder(dc)
            SLatVaeMeshDecoderTrainer.initialize(decoder, generator: &generator)
            var weights = SLatVaeMeshDecoderTrainer.LossWeights.geometryOnly(
                meshResolution: decoder.meshResolution)
            if let c = args.lambdaColor { weights.color = Float(c) }
            let objective = try SLatVaeMeshDecoderTrainer(
                decoder: decoder,
                encoder: try frozenEncoder(config, baseDirectory: baseDirectory), data: data,
                weights: weights)
            return try Trainer(objective: objective, options: options)
        case "SLatVaeRadianceFieldDecoderTrainer":
            guard case .slatRadianceFieldDecoder(let dc)? = config.models["decoder"]?.args else {
                throw LatticeError(
                    .invalidConfig,
                    "models: SLatVaeRadianceFieldDecoderTrainer needs 'decoder' "
                        + "(SLatRadianceFieldDecoder)")
            }
            try checkOnly(config, ["encoder", "decoder"])
            let data = try slatSource(config, baseDirectory: baseDirectory, given: slatData)
            let decoder = try SLatRadianceFieldDecoder(dc)
            SLatVaeGaussianTrainer.initialize(decoder, generator: &generator)
            let lossType = try pixelLossType(args)
            let objective = try SLatVaeRadianceFieldDecoderTrainer(
                decoder: decoder,
                encoder: try frozenEncoder(config, baseDirectory: baseDirectory), data: data,
                lossType: lossType, lambdaSSIM: Float(args.lambdaSsim ?? 0.2),
                viewsPerItem: args.viewsPerItem ?? 1)
            return try Trainer(objective: objective, options: options)
        default:
            throw LatticeError(
                .unsupported,
                "trainer.name: '\(config.trainer.name)' (supported: SparseStructureVaeTrainer, "
                    + "FlowMatchingCFGTrainer, ImageConditionedFlowMatchingCFGTrainer, "
                    + "SparseFlowMatchingCFGTrainer, ImageConditionedSparseFlowMatchingCFGTrainer, "
                    + "SLatVaeGaussianTrainer, SLatVaeMeshDecoderTrainer, "
                    + "SLatVaeRadianceFieldDecoderTrainer)")
        }
    }

    /// The flow `t_schedule` (upstream default: logitNormal mean 0, std 1).
    public static func timeSchedule(_ spec: NamedArgs?)
        throws -> ImageConditionedFlowMatchingCFGTrainer.TimeSchedule
    {
        guard let spec else { return .logitNormal(mean: 0, std: 1) }
        switch spec.name {
        case "uniform":
            try spec.check(known: [], context: "trainer.args.t_schedule")
            return .uniform
        case "logitNormal":
            try spec.check(known: ["mean", "std"], context: "trainer.args.t_schedule")
            return .logitNormal(
                mean: Float(spec.args["mean"] ?? 0), std: Float(spec.args["std"] ?? 1))
        default:
            throw LatticeError(
                .unsupported,
                "trainer.args.t_schedule: '\(spec.name)' (supported: uniform, logitNormal)")
        }
    }

    static func voxelDataset(_ spec: DatasetSpec, baseDirectory: URL?) throws -> VoxelDataset {
        guard spec.name == "SparseStructure" else {
            throw LatticeError(
                .unsupported,
                "dataset.name: '\(spec.name)' for the SS VAE (supported: SparseStructure)")
        }
        let resolution = spec.args.resolution ?? 64
        if let roots = spec.args.roots {
            let url = resolve(roots, baseDirectory)
            let data = try FolderVoxelDataset(root: url)
            guard data.resolution == resolution else {
                throw LatticeError(
                    .invalidConfig,
                    "dataset.args.resolution is \(resolution) but \(url.path) holds "
                        + "\(data.resolution)³ voxels")
            }
            return data
        }
        return ProceduralVoxelDataset(
            shapes: ProceduralShapes(seed: spec.args.proceduralSeed ?? 0),
            count: spec.args.proceduralCount ?? 1000, resolution: resolution)
    }

    /// `trainer.args.loss_type` of a rendered-image trainer (default l1).
    static func pixelLossType(_ args: TrainerArgs) throws -> PixelLossType {
        guard let t = PixelLossType(rawValue: args.lossType ?? "l1") else {
            throw LatticeError(
                .invalidConfig,
                "trainer.args.loss_type: '\(args.lossType ?? "")' (expected l1 or l2)")
        }
        return t
    }

    /// A config path: absolute, or relative to the config's folder.
    static func resolve(_ path: String, _ baseDirectory: URL?) -> URL {
        guard let baseDirectory, !path.hasPrefix("/") else { return URL(fileURLWithPath: path) }
        return baseDirectory.appendingPathComponent(path).standardizedFileURL
    }

    /// The SLat samples: `given` (library callers), else the dataset folder in
    /// `dataset.args.roots` (written by `lattice data build`).
    static func slatSource(_ config: TrainingConfig, baseDirectory: URL?, given: SLatSampleSource?)
        throws -> SLatSampleSource
    {
        if let given { return given }
        guard let roots = config.dataset.args.roots else {
            throw LatticeError(
                .invalidConfig,
                "dataset '\(config.dataset.name)': \(config.trainer.name) needs SLat samples "
                    + "(voxels, features, views): set dataset.args.roots to a folder written by "
                    + "'lattice data build'")
        }
        let data = try FolderSLatDataset(root: resolve(roots, baseDirectory))
        guard data.count > 0 else {
            throw LatticeError(
                .invalidArgument, "\(data.root.path): no finished items to train on")
        }
        return data
    }

    /// The frozen SLat encoder of a decoder-only trainer: `models.encoder` with the weights in
    /// `dataset.args.latent_model` (a .safetensors path; upstream names the encoder whose
    /// pre-computed latents it reads). No `models.encoder`: the samples' features are latents.
    static func frozenEncoder(_ config: TrainingConfig, baseDirectory: URL?) throws
        -> SLatEncoder?
    {
        guard let spec = config.models["encoder"] else { return nil }
        guard case .slatEncoder(let ec) = spec.args else {
            throw LatticeError(
                .invalidConfig,
                "models.encoder: \(config.trainer.name) takes an SLatEncoder, got '\(spec.name)'")
        }
        guard let path = config.dataset.args.latentModel, path.hasSuffix(".safetensors") else {
            throw LatticeError(
                .invalidConfig,
                "dataset.args.latent_model: '\(config.dataset.args.latentModel ?? "")'; with "
                    + "models.encoder, \(config.trainer.name) needs the trained encoder's "
                    + "weights (a .safetensors path) to encode the features")
        }
        let url = resolve(path, baseDirectory)
        let encoder = try SLatEncoder(ec)
        try encoder.load(try SafetensorsFile(url: url).tensors(), source: url.path)
        return encoder
    }

    private static func checkOnly(_ config: TrainingConfig, _ names: [String]) throws {
        for name in config.models.keys.sorted() where !names.contains(name) {
            throw LatticeError(
                .invalidConfig,
                "models: unexpected model '\(name)' for \(config.trainer.name) (expects "
                    + "\(names.joined(separator: ", ")))")
        }
    }
}
