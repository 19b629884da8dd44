// Training configs in TRELLIS's JSON shape (TRELLIS@6b0d647 configs/vae/ss_vae_conv3d_16l8_fp16.json,
// configs/generation/ss_flow_img_dit_L_16l8_fp16.json): {"models": {name: {"name", "args"}},
// "dataset": {"name", "args"}, "trainer": {"name", "args"}}. Keys equal the upstream keys; a
// field Lattice does not know is an error naming it, so a typo never silently falls back to a
// default. Upstream fields that only concern multi-GPU fp16 training (fp16_mode, i_ddpcheck,
// ...) are accepted and ignored: Lattice trains in float32, on one process.
import Foundation
import LatticeModels
import LatticeTensor

/// A whole training run: models, dataset, trainer (upstream JSON layout).
public struct TrainingConfig: Codable, Sendable {
    /// Models by role ("encoder", "decoder", "denoiser").
    public var models: [String: ModelSpec]
    /// The data source.
    public var dataset: DatasetSpec
    /// The trainer and its hyper-parameters.
    public var trainer: TrainerSpec

    enum CodingKeys: String, CodingKey, CaseIterable { case models, dataset, trainer }

    public init(models: [String: ModelSpec], dataset: DatasetSpec, trainer: TrainerSpec) {
        self.models = models
        self.dataset = dataset
        self.trainer = trainer
    }

    public init(from decoder: Decoder) throws {
        try checkKnownKeys(decoder, CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        models = try c.decode([String: ModelSpec].self, forKey: .models)
        dataset = try c.decode(DatasetSpec.self, forKey: .dataset)
        trainer = try c.decode(TrainerSpec.self, forKey: .trainer)
    }

    /// Parses a config file; errors name the file and the offending field.
    public static func load(_ url: URL) throws -> TrainingConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw LatticeError(.io, "\(url.path): cannot read (\(error.localizedDescription))")
        }
        return try parse(data, source: url.path)
    }

    /// Parses config JSON; `source` names it in errors.
    public static func parse(_ data: Data, source: String) throws -> TrainingConfig {
        do {
            return try JSONDecoder().decode(TrainingConfig.self, from: data)
        } catch let e as LatticeError {
            throw LatticeError(e.kind, "\(source): \(e.message)")
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw LatticeError(
                .invalidConfig,
                "\(source): missing field '\(path(ctx.codingPath + [key]))'")
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw LatticeError(
                .invalidConfig, "\(source): field '\(path(ctx.codingPath))' is not a \(type)")
        } catch let DecodingError.valueNotFound(type, ctx) {
            throw LatticeError(
                .invalidConfig,
                "\(source): field '\(path(ctx.codingPath))' is null, expected \(type)")
        } catch {
            throw LatticeError(.invalidConfig, "\(source): invalid JSON (\(error))")
        }
    }
}

/// One model: upstream class name and constructor kwargs.
public struct ModelSpec: Codable, Sendable {
    /// The constructor arguments, typed by class.
    public enum Args: Sendable {
        case sparseStructureEncoder(TRELLIS.SparseStructureVAEConfig)
        case sparseStructureDecoder(TRELLIS.SparseStructureVAEConfig)
        case sparseStructureFlow(SparseStructureFlowModel.Config)
        case slatFlow(SLatFlowModel.Config)
        /// `SLatEncoder` / `ElasticSLatEncoder`.
        case slatEncoder(SLatEncoder.Config)
        /// `SLatGaussianDecoder` / `ElasticSLatGaussianDecoder`.
        case slatGaussianDecoder(SLatGaussianDecoder.Config)
        /// `SLatMeshDecoder` / `ElasticSLatMeshDecoder`.
        case slatMeshDecoder(SLatMeshDecoder.Config)
        /// `SLatRadianceFieldDecoder` / `ElasticSLatRadianceFieldDecoder`.
        case slatRadianceFieldDecoder(SLatRadianceFieldDecoder.Config)
    }

    /// Upstream class name.
    public var name: String
    /// Typed kwargs.
    public var args: Args

    enum CodingKeys: String, CodingKey, CaseIterable { case name, args }

    static let vaeKeys = [
        "in_channels", "out_channels", "latent_channels", "num_res_blocks",
        "num_res_blocks_middle", "channels", "norm_type", "use_fp16",
    ]
    static let flowKeys = [
        "resolution", "in_channels", "model_channels", "cond_channels", "out_channels",
        "num_blocks", "num_heads", "num_head_channels", "mlp_ratio", "patch_size", "pe_mode",
        "use_fp16", "use_checkpoint", "share_mod", "qk_rms_norm", "qk_rms_norm_cross",
    ]

    public init(name: String, args: Args) {
        self.name = name
        self.args = args
    }

    public init(from decoder: Decoder) throws {
        try checkKnownKeys(decoder, CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        let argsDecoder = try c.superDecoder(forKey: .args)
        switch name {
        case "SparseStructureEncoder":
            try checkKnownKeys(argsDecoder, Self.vaeKeys)
            args = .sparseStructureEncoder(try TRELLIS.SparseStructureVAEConfig(from: argsDecoder))
        case "SparseStructureDecoder":
            try checkKnownKeys(argsDecoder, Self.vaeKeys)
            args = .sparseStructureDecoder(try TRELLIS.SparseStructureVAEConfig(from: argsDecoder))
        case "SparseStructureFlowModel":
            try checkKnownKeys(argsDecoder, Self.flowKeys)
            args = .sparseStructureFlow(try SparseStructureFlowModel.Config(from: argsDecoder))
        case "SLatFlowModel", "ElasticSLatFlowModel":
            try checkKnownKeys(argsDecoder, SLatFlowModel.Config.fieldNames.sorted())
            args = .slatFlow(try SLatFlowModel.Config(from: argsDecoder))
        case "SLatEncoder", "ElasticSLatEncoder":
            args = .slatEncoder(try SLatEncoder.Config(from: argsDecoder))
        case "SLatGaussianDecoder", "ElasticSLatGaussianDecoder":
            args = .slatGaussianDecoder(try SLatGaussianDecoder.Config(from: argsDecoder))
        case "SLatMeshDecoder", "ElasticSLatMeshDecoder":
            args = .slatMeshDecoder(try SLatMeshDecoder.Config(from: argsDecoder))
        case "SLatRadianceFieldDecoder", "ElasticSLatRadianceFieldDecoder":
            args = .slatRadianceFieldDecoder(try SLatRadianceFieldDecoder.Config(from: argsDecoder))
        default:
            throw LatticeError(
                .unsupported,
                "\(path(decoder.codingPath)).name: model '\(name)' (supported: "
                    + "SparseStructureEncoder, SparseStructureDecoder, SparseStructureFlowModel, "
                    + "SLatFlowModel, SLatEncoder, SLatGaussianDecoder, SLatMeshDecoder, "
                    + "SLatRadianceFieldDecoder)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        switch args {
        case .sparseStructureEncoder(let a), .sparseStructureDecoder(let a):
            try c.encode(a, forKey: .args)
        case .sparseStructureFlow(let a): try c.encode(a, forKey: .args)
        case .slatFlow(let a): try c.encode(a, forKey: .args)
        case .slatEncoder(let a): try c.encode(a, forKey: .args)
        case .slatGaussianDecoder(let a): try c.encode(a, forKey: .args)
        case .slatMeshDecoder(let a): try c.encode(a, forKey: .args)
        case .slatRadianceFieldDecoder(let a): try c.encode(a, forKey: .args)
        }
    }
}

/// The data source: upstream dataset class name and kwargs.
public struct DatasetSpec: Codable, Sendable {
    /// Upstream class name ("SparseStructure", "ImageConditionedSparseStructureLatent").
    public var name: String
    /// Kwargs.
    public var args: DatasetArgs

    enum CodingKeys: String, CodingKey, CaseIterable { case name, args }

    public init(name: String, args: DatasetArgs) {
        self.name = name
        self.args = args
    }

    public init(from decoder: Decoder) throws {
        try checkKnownKeys(decoder, CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        args = try c.decodeIfPresent(DatasetArgs.self, forKey: .args) ?? DatasetArgs()
    }
}

/// Dataset kwargs: the upstream ones plus where Lattice finds the data.
public struct DatasetArgs: Codable, Sendable {
    /// Occupancy grid resolution (upstream `resolution`, 64).
    public var resolution: Int?
    /// Upstream aesthetic filter; procedural data has no scores, so it is ignored.
    public var minAestheticScore: Double?
    /// Upstream latent-dataset kwargs (kept for config compatibility).
    public var latentModel: String?
    public var imageSize: Int?
    public var pretrainedSsDec: String?
    /// Lattice: a folder written by `lattice data shapes` (manifest.json + voxels).
    public var roots: String?
    /// Lattice: when `roots` is absent, this many procedural shapes generated on the fly.
    public var proceduralCount: Int?
    /// Lattice: seed of the procedural shapes.
    public var proceduralSeed: UInt64?
    /// Upstream SparseFeat2Render kwargs (feature model name, voxel cap), accepted and ignored.
    public var model: String?
    public var maxNumVoxels: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case resolution
        case minAestheticScore = "min_aesthetic_score"
        case latentModel = "latent_model"
        case imageSize = "image_size"
        case pretrainedSsDec = "pretrained_ss_dec"
        case roots
        case proceduralCount = "procedural_count"
        case proceduralSeed = "procedural_seed"
        case model
        case maxNumVoxels = "max_num_voxels"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        try checkKnownKeys(decoder, CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        resolution = try c.decodeIfPresent(Int.self, forKey: .resolution)
        minAestheticScore = try c.decodeIfPresent(Double.self, forKey: .minAestheticScore)
        latentModel = try c.decodeIfPresent(String.self, forKey: .latentModel)
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize)
        pretrainedSsDec = try c.decodeIfPresent(String.self, forKey: .pretrainedSsDec)
        roots = try c.decodeIfPresent(String.self, forKey: .roots)
        proceduralCount = try c.decodeIfPresent(Int.self, forKey: .proceduralCount)
        proceduralSeed = try c.decodeIfPresent(UInt64.self, forKey: .proceduralSeed)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        maxNumVoxels = try c.decodeIfPresent(Int.self, forKey: .maxNumVoxels)
    }
}

/// `{"name": ..., "args": {...}}` with free-form numeric args (optimizer, scheduler, clipper,
/// t schedule).
public struct NamedArgs: Codable, Sendable, Equatable {
    public var name: String
    public var args: [String: Double]

    public init(name: String, args: [String: Double] = [:]) {
        self.name = name
        self.args = args
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case name, args }

    public init(from decoder: Decoder) throws {
        try checkKnownKeys(decoder, CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        args = try c.decodeIfPresent([String: Double].self, forKey: .args) ?? [:]
    }

    /// Rejects args outside `known`, naming the first unknown one.
    func check(known: [String], context: String) throws {
        for key in args.keys.sorted() where !known.contains(key) {
            throw LatticeError(
                .invalidConfig,
                "\(context) '\(name)': unknown field 'args.\(key)' (known: \(known.joined(separator: ", ")))"
            )
        }
    }
}

/// Gradient clipping: a fixed max norm, or `{"name": "AdaptiveGradClipper", "args": ...}`.
public enum GradClipSpec: Codable, Sendable, Equatable {
    case fixed(Double)
    case named(NamedArgs)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Double.self) {
            self = .fixed(v)
        } else {
            self = .named(try NamedArgs(from: decoder))
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .fixed(let v):
            var c = encoder.singleValueContainer()
            try c.encode(v)
        case .named(let n): try n.encode(to: encoder)
        }
    }
}

/// The trainer: upstream class name and kwargs.
public struct TrainerSpec: Codable, Sendable {
    /// "SparseStructureVaeTrainer", "FlowMatchingCFGTrainer", "ImageConditionedFlowMatchingCFGTrainer".
    public var name: String
    public var args: TrainerArgs

    enum CodingKeys: String, CodingKey, CaseIterable { case name, args }

    public init(name: String, args: TrainerArgs) {
        self.name = name
        self.args = args
    }

    public init(from decoder: Decoder) throws {
        try checkKnownKeys(decoder, CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        args = try c.decode(TrainerArgs.self, forKey: .args)
    }
}

/// Trainer kwargs (BasicTrainer's plus the VAE and flow-matching ones), upstream keys.
public struct TrainerArgs: Codable, Sendable {
    public var maxSteps: Int
    public var batchSize: Int?
    public var batchSizePerGpu: Int?
    public var batchSplit: Int?
    public var optimizer: NamedArgs?
    public var lrScheduler: NamedArgs?
    public var emaRate: [Double]?
    public var gradClip: GradClipSpec?
    public var fp16Mode: String?
    public var fp16ScaleGrowth: Double?
    public var iPrint: Int?
    public var iLog: Int?
    public var iSample: Int?
    public var iSave: Int?
    public var iDdpcheck: Int?
    public var logParamStats: Bool?
    // SparseStructureVaeTrainer
    public var lossType: String?
    public var lambdaKl: Double?
    // Flow matching
    public var tSchedule: NamedArgs?
    public var sigmaMin: Double?
    public var pUncond: Double?
    public var imageCondModel: String?
    // SLatVaeGaussianTrainer (LPIPS is not implemented: lambda_lpips is accepted and ignored)
    public var lambdaSsim: Double?
    public var lambdaLpips: Double?
    /// `lambda_vol`, `lambda_opacity`.
    public var regularizations: [String: Double]?
    // SLatVaeMeshDecoderTrainer. Lattice's mesh trainer has no rendered terms yet, so it weighs
    // the TSDF in units of its truncation band (`LossWeights.geometryOnly`); `lambda_color`
    // weights its colour term, and lambda_tsdf / lambda_depth / depth_loss_type are accepted
    // and ignored.
    public var lambdaTsdf: Double?
    public var lambdaDepth: Double?
    public var lambdaColor: Double?
    public var depthLossType: String?
    /// Upstream elastic memory controller (accepted and ignored).
    public var elastic: NamedArgs?
    /// Lattice: views rendered per item and step (upstream 1).
    public var viewsPerItem: Int?
    /// Lattice: seed of initialisation, data order and noise.
    public var seed: UInt64?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxSteps = "max_steps"
        case batchSize = "batch_size"
        case batchSizePerGpu = "batch_size_per_gpu"
        case batchSplit = "batch_split"
        case optimizer
        case lrScheduler = "lr_scheduler"
        case emaRate = "ema_rate"
        case gradClip = "grad_clip"
        case fp16Mode = "fp16_mode"
        case fp16ScaleGrowth = "fp16_scale_growth"
        case iPrint = "i_print"
        case iLog = "i_log"
        case iSample = "i_sample"
        case iSave = "i_save"
        case iDdpcheck = "i_ddpcheck"
        case logParamStats = "log_param_stats"
        case lossType = "loss_type"
        case lambdaKl = "lambda_kl"
        case tSchedule = "t_schedule"
        case sigmaMin = "sigma_min"
        case pUncond = "p_uncond"
        case imageCondModel = "image_cond_model"
        case lambdaSsim = "lambda_ssim"
        case lambdaLpips = "lambda_lpips"
        case regularizations
        case lambdaTsdf = "lambda_tsdf"
        case lambdaDepth = "lambda_depth"
        case lambdaColor = "lambda_color"
        case depthLossType = "depth_loss_type"
        case elastic
        case viewsPerItem = "views_per_item"
        case seed
    }

    public init(maxSteps: Int) { self.maxSteps = maxSteps }

    public init(from decoder: Decoder) throws {
        try checkKnownKeys(decoder, CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxSteps = try c.decode(Int.self, forKey: .maxSteps)
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize)
        batchSizePerGpu = try c.decodeIfPresent(Int.self, forKey: .batchSizePerGpu)
        batchSplit = try c.decodeIfPresent(Int.self, forKey: .batchSplit)
        optimizer = try c.decodeIfPresent(NamedArgs.self, forKey: .optimizer)
        lrScheduler = try c.decodeIfPresent(NamedArgs.self, forKey: .lrScheduler)
        // Upstream accepts a float or a list.
        if let one = try? c.decodeIfPresent(Double.self, forKey: .emaRate) {
            emaRate = [one]
        } else {
            emaRate = try c.decodeIfPresent([Double].self, forKey: .emaRate)
        }
        gradClip = try c.decodeIfPresent(GradClipSpec.self, forKey: .gradClip)
        fp16Mode = try c.decodeIfPresent(String.self, forKey: .fp16Mode)
        fp16ScaleGrowth = try c.decodeIfPresent(Double.self, forKey: .fp16ScaleGrowth)
        iPrint = try c.decodeIfPresent(Int.self, forKey: .iPrint)
        iLog = try c.decodeIfPresent(Int.self, forKey: .iLog)
        iSample = try c.decodeIfPresent(Int.self, forKey: .iSample)
        iSave = try c.decodeIfPresent(Int.self, forKey: .iSave)
        iDdpcheck = try c.decodeIfPresent(Int.self, forKey: .iDdpcheck)
        logParamStats = try c.decodeIfPresent(Bool.self, forKey: .logParamStats)
        lossType = try c.decodeIfPresent(String.self, forKey: .lossType)
        lambdaKl = try c.decodeIfPresent(Double.self, forKey: .lambdaKl)
        tSchedule = try c.decodeIfPresent(NamedArgs.self, forKey: .tSchedule)
        sigmaMin = try c.decodeIfPresent(Double.self, forKey: .sigmaMin)
        pUncond = try c.decodeIfPresent(Double.self, forKey: .pUncond)
        imageCondModel = try c.decodeIfPresent(String.self, forKey: .imageCondModel)
        lambdaSsim = try c.decodeIfPresent(Double.self, forKey: .lambdaSsim)
        lambdaLpips = try c.decodeIfPresent(Double.self, forKey: .lambdaLpips)
        regularizations = try c.decodeIfPresent([String: Double].self, forKey: .regularizations)
        lambdaTsdf = try c.decodeIfPresent(Double.self, forKey: .lambdaTsdf)
        lambdaDepth = try c.decodeIfPresent(Double.self, forKey: .lambdaDepth)
        lambdaColor = try c.decodeIfPresent(Double.self, forKey: .lambdaColor)
        depthLossType = try c.decodeIfPresent(String.self, forKey: .depthLossType)
        elastic = try c.decodeIfPresent(NamedArgs.self, forKey: .elastic)
        viewsPerItem = try c.decodeIfPresent(Int.self, forKey: .viewsPerItem)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
    }

    /// The loop options these kwargs describe (validated).
    public func options() throws -> TrainerOptions {
        var o = TrainerOptions(maxSteps: maxSteps)
        o.batchSize = batchSizePerGpu ?? batchSize ?? 1
        o.batchSplit = batchSplit ?? 1
        guard o.batchSize > 0, o.batchSplit > 0, o.batchSize % o.batchSplit == 0 else {
            throw LatticeError(
                .invalidConfig,
                "trainer.args: batch size \(o.batchSize) must be a positive multiple of "
                    + "batch_split \(o.batchSplit)")
        }
        if let opt = optimizer {
            try opt.check(
                known: ["lr", "weight_decay", "beta1", "beta2", "eps"],
                context: "trainer.args.optimizer")
            guard opt.name == "AdamW" || opt.name == "Adam" else {
                throw LatticeError(
                    .unsupported, "trainer.args.optimizer: '\(opt.name)' (supported: AdamW, Adam)")
            }
            o.optimizer = opt.name
            o.learningRate = Float(opt.args["lr"] ?? 1e-3)
            o.weightDecay = Float(opt.args["weight_decay"] ?? (opt.name == "AdamW" ? 1e-2 : 0))
            if let b = opt.args["beta1"] { o.beta1 = Float(b) }
            if let b = opt.args["beta2"] { o.beta2 = Float(b) }
            if let e = opt.args["eps"] { o.eps = Float(e) }
        }
        if let s = lrScheduler {
            switch s.name {
            case "LinearWarmupLRScheduler":
                try s.check(known: ["warmup_steps"], context: "trainer.args.lr_scheduler")
                guard let w = s.args["warmup_steps"] else {
                    throw LatticeError(
                        .invalidConfig,
                        "trainer.args.lr_scheduler: LinearWarmupLRScheduler needs args.warmup_steps"
                    )
                }
                o.warmupSteps = Int(w)
            case "CosineWarmupLRScheduler":
                // Lattice's: linear warmup, then half-cosine to min_lr_ratio·lr at max_steps.
                try s.check(
                    known: ["warmup_steps", "min_lr_ratio"], context: "trainer.args.lr_scheduler")
                o.warmupSteps = s.args["warmup_steps"].map { Int($0) }
                o.cosineMinFraction = Float(s.args["min_lr_ratio"] ?? 0)
            default:
                throw LatticeError(
                    .unsupported,
                    "trainer.args.lr_scheduler: '\(s.name)' (supported: LinearWarmupLRScheduler, "
                        + "CosineWarmupLRScheduler)")
            }
        }
        o.emaRates = (emaRate ?? [0.9999]).map { Float($0) }
        switch gradClip {
        case nil: o.gradClip = nil
        case .fixed(let v): o.gradClip = .fixed(Float(v))
        case .named(let n):
            try n.check(
                known: ["max_norm", "clip_percentile", "buffer_size"],
                context: "trainer.args.grad_clip")
            guard n.name == "AdaptiveGradClipper" else {
                throw LatticeError(
                    .unsupported,
                    "trainer.args.grad_clip: '\(n.name)' (supported: a number, AdaptiveGradClipper)"
                )
            }
            o.gradClip = .adaptive(
                maxNorm: n.args["max_norm"].map { Float($0) },
                percentile: n.args["clip_percentile"] ?? 95,
                bufferSize: Int(n.args["buffer_size"] ?? 1000))
        }
        o.logEvery = iLog ?? 500
        o.saveEvery = iSave ?? 10000
        o.seed = seed ?? 0
        return o
    }
}

// MARK: Strict keys

struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Throws `invalidConfig` naming the first field of the object at `decoder` not in `known`.
func checkKnownKeys(_ decoder: Decoder, _ known: [String]) throws {
    let c = try decoder.container(keyedBy: AnyCodingKey.self)
    for key in c.allKeys.map(\.stringValue).sorted() where !known.contains(key) {
        let here = path(decoder.codingPath)
        throw LatticeError(
            .invalidConfig,
            "unknown field '\(here.isEmpty ? key : here + "." + key)' (known here: "
                + "\(known.joined(separator: ", ")))")
    }
}

func path(_ keys: [CodingKey]) -> String {
    keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
}
