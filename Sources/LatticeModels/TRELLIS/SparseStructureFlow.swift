// microsoft/TRELLIS@6b0d647:trellis/models/sparse_structure_flow.py (TimestepEmbedder,
// SparseStructureFlowModel).
import Foundation
import LatticeNN
import LatticeTensor

/// Embeds scalar diffusion timesteps (already scaled by 1000) as sinusoids followed by an MLP.
public final class TimestepEmbedder: Module, @unchecked Sendable {
    /// Constructor arguments, keyed as upstream.
    public struct Config: Codable, Sendable {
        public var hiddenSize: Int
        public var frequencyEmbeddingSize: Int

        enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size"
            case frequencyEmbeddingSize = "frequency_embedding_size"
        }

        public init(hiddenSize: Int, frequencyEmbeddingSize: Int = 256) {
            self.hiddenSize = hiddenSize
            self.frequencyEmbeddingSize = frequencyEmbeddingSize
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
            frequencyEmbeddingSize =
                try c.decodeIfPresent(Int.self, forKey: .frequencyEmbeddingSize) ?? 256
        }
    }

    public let config: Config
    /// `mlp.0` (upstream nn.Sequential index 0).
    public let linear1: Linear
    /// `mlp.2` (index 1 is the parameter-free SiLU).
    public let linear2: Linear

    public init(_ config: Config) {
        self.config = config
        linear1 = Linear(config.frequencyEmbeddingSize, config.hiddenSize)
        linear2 = Linear(config.hiddenSize, config.hiddenSize)
        super.init()
        register("mlp.0", linear1)
        register("mlp.2", linear2)
    }

    /// Sinusoidal features `[cos(t f), sin(t f)]` (cos first), `f_i = exp(-ln(maxPeriod) i / half)`.
    /// Everything is float32 as upstream: its float64 `np.log` constant multiplies a float32
    /// tensor, so the product is rounded to float32 before the exp.
    public static func timestepEmbedding(_ t: Tensor, dim: Int, maxPeriod: Float = 10000) -> Tensor
    {
        precondition(t.rank == 1, "timestep_embedding expects t of shape [N], got \(t.shape)")
        let half = dim / 2
        let logPeriod = Float(Foundation.log(Double(maxPeriod)))
        let freqs = (0..<half).map { Foundation.exp(-logPeriod * Float($0) / Float(half)) }
        let ts = t.toFloats()
        let out = Tensor(zeros: [ts.count, dim])  // [N, dim]; an odd dim keeps a zero last column
        let p = out.floats
        for (n, tn) in ts.enumerated() {
            for i in 0..<half {
                let arg = tn * freqs[i]
                p[n * dim + i] = Foundation.cos(arg)
                p[n * dim + half + i] = Foundation.sin(arg)
            }
        }
        return out
    }

    /// `t`: [N] timesteps (already x1000) -> [N, hidden_size].
    public func callAsFunction(_ t: Tensor) -> Tensor {
        let freq = Self.timestepEmbedding(t, dim: config.frequencyEmbeddingSize)  // [N, 256]
        return linear2(linear1(freq).silu())  // [N, C]
    }
}

/// The sparse-structure flow DiT: dense [B, C, R, R, R] latents, velocity prediction
/// conditioned on timesteps (x1000) and a token sequence.
public final class SparseStructureFlowModel: Module, @unchecked Sendable {
    /// Constructor kwargs, keyed as the checkpoints' `ckpts/ss_flow_*.json` `args`.
    public struct Config: Codable, Sendable {
        public var resolution: Int
        public var inChannels: Int
        public var modelChannels: Int
        public var condChannels: Int
        public var outChannels: Int
        public var numBlocks: Int
        public var numHeads: Int?
        public var numHeadChannels = 64
        public var mlpRatio = 4.0
        public var patchSize = 2
        public var peMode = "ape"
        public var useFp16 = false
        public var shareMod = false
        public var qkRmsNorm = false
        public var qkRmsNormCross = false
        /// Upstream's gradient-checkpointing switch; memory only, the math is unchanged.
        public var useCheckpoint = false

        enum CodingKeys: String, CodingKey {
            case resolution
            case inChannels = "in_channels"
            case modelChannels = "model_channels"
            case condChannels = "cond_channels"
            case outChannels = "out_channels"
            case numBlocks = "num_blocks"
            case numHeads = "num_heads"
            case numHeadChannels = "num_head_channels"
            case mlpRatio = "mlp_ratio"
            case patchSize = "patch_size"
            case peMode = "pe_mode"
            case useFp16 = "use_fp16"
            case shareMod = "share_mod"
            case qkRmsNorm = "qk_rms_norm"
            case qkRmsNormCross = "qk_rms_norm_cross"
            case useCheckpoint = "use_checkpoint"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            resolution = try c.decode(Int.self, forKey: .resolution)
            inChannels = try c.decode(Int.self, forKey: .inChannels)
            modelChannels = try c.decode(Int.self, forKey: .modelChannels)
            condChannels = try c.decode(Int.self, forKey: .condChannels)
            outChannels = try c.decode(Int.self, forKey: .outChannels)
            numBlocks = try c.decode(Int.self, forKey: .numBlocks)
            numHeads = try c.decodeIfPresent(Int.self, forKey: .numHeads)
            numHeadChannels = try c.decodeIfPresent(Int.self, forKey: .numHeadChannels) ?? 64
            mlpRatio = try c.decodeIfPresent(Double.self, forKey: .mlpRatio) ?? 4
            patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? 2
            peMode = try c.decodeIfPresent(String.self, forKey: .peMode) ?? "ape"
            useFp16 = try c.decodeIfPresent(Bool.self, forKey: .useFp16) ?? false
            shareMod = try c.decodeIfPresent(Bool.self, forKey: .shareMod) ?? false
            qkRmsNorm = try c.decodeIfPresent(Bool.self, forKey: .qkRmsNorm) ?? false
            qkRmsNormCross = try c.decodeIfPresent(Bool.self, forKey: .qkRmsNormCross) ?? false
            useCheckpoint = try c.decodeIfPresent(Bool.self, forKey: .useCheckpoint) ?? false
        }
    }

    public let config: Config
    public let tEmbedder: TimestepEmbedder
    /// Shared `adaLN_modulation.1` when `share_mod`.
    public let adaLNModulation: Linear?
    /// `pos_emb` buffer [(R/p)³, C]: APE of the x-major patch grid (upstream-computed values).
    public let posEmb: Parameter
    public let inputLayer: Linear
    public let blocks: [TRELLIS.ModulatedTransformerCrossBlock]
    public let outLayer: Linear

    public init(_ config: Config) throws {
        guard config.peMode == "ape" else {
            throw LatticeError(
                .unsupported, "SparseStructureFlowModel: pe_mode '\(config.peMode)' (only 'ape')")
        }
        guard config.resolution % config.patchSize == 0 else {
            throw LatticeError(
                .invalidConfig,
                "SparseStructureFlowModel: resolution \(config.resolution) not divisible by "
                    + "patch_size \(config.patchSize)")
        }
        self.config = config
        let c = config.modelChannels
        let heads = config.numHeads ?? c / config.numHeadChannels
        let p3 = config.patchSize * config.patchSize * config.patchSize
        let grid = config.resolution / config.patchSize
        tEmbedder = TimestepEmbedder(.init(hiddenSize: c))
        adaLNModulation = config.shareMod ? Linear(c, 6 * c) : nil
        let ape = AbsolutePositionEmbedder(.init(channels: c, inChannels: 3))
        var coords: [Float] = []
        for x in 0..<grid {
            for y in 0..<grid { for z in 0..<grid { coords += [Float(x), Float(y), Float(z)] } }
        }
        posEmb = Parameter(ape(Tensor(coords, shape: [grid * grid * grid, 3])), isBuffer: true)
        inputLayer = Linear(config.inChannels * p3, c)
        blocks = (0..<config.numBlocks).map { _ in
            TRELLIS.ModulatedTransformerCrossBlock(
                channels: c, contextChannels: config.condChannels, numHeads: heads,
                mlpRatio: config.mlpRatio, shareMod: config.shareMod,
                qkRMSNorm: config.qkRmsNorm, qkRMSNormCross: config.qkRmsNormCross)
        }
        outLayer = Linear(c, config.outChannels * p3)
        super.init()
        register("t_embedder", tEmbedder)
        if let adaLNModulation { register("adaLN_modulation.1", adaLNModulation) }
        register("pos_emb", posEmb)
        register("input_layer", inputLayer)
        register(list: "blocks", blocks)
        register("out_layer", outLayer)
    }

    /// `x`: [B, in, R, R, R]; `t`: [B] (already x1000); `cond`: [B, L, cond_channels]
    /// -> velocity [B, out, R, R, R]. `blockOutputs` receives the tokens after each block.
    /// With `use_fp16` the fp16 weights are widened and every block computes in float32
    /// (upstream runs the torso in fp16; the difference is within fp16 rounding).
    public func callAsFunction(
        _ x: Tensor, t: Tensor, cond: Tensor, blockOutputs: ((Int, Tensor) -> Void)? = nil
    ) -> Tensor {
        let r = config.resolution
        let p = config.patchSize
        precondition(
            x.rank == 5 && x.shape[1] == config.inChannels && x.shape[2...] == [r, r, r][...],
            "SparseStructureFlowModel: x \(x.shape), expected [B, \(config.inChannels), \(r), \(r), \(r)]"
        )
        let b = x.shape[0]
        let patches = TRELLIS.patchify(x, patchSize: p)  // [B, in p³, R/p, R/p, R/p]
        let tokens = patches.reshape([b, patches.shape[1], -1]).transpose(1, 2)  // [B, T, in p³]
        var h = inputLayer(tokens) + posEmb.value.float().unsqueeze(0)  // [B, T, C]
        var tEmb = tEmbedder(t)  // [B, C]
        if let adaLNModulation { tEmb = adaLNModulation(tEmb.silu()) }  // [B, 6C]
        for (i, block) in blocks.enumerated() {
            h = block(h, mod: tEmb, context: cond.float())
            blockOutputs?(i, h)
        }
        h = layerNorm(h, weight: nil, bias: nil, eps: 1e-5)
        let g = r / p
        let out = outLayer(h).transpose(1, 2).reshape([b, config.outChannels * p * p * p, g, g, g])
        return TRELLIS.unpatchify(out, patchSize: p).contiguous()  // [B, out, R, R, R]
    }
}
