// microsoft/TRELLIS@6b0d647:trellis/models/structured_latent_flow.py (SparseResBlock3d,
// SLatFlowModel): the structured-latent flow DiT on sparse voxels, with submanifold-conv
// io blocks that pool to half resolution around a stack of sparse adaLN cross blocks.
import Foundation
import LatticeNN
import LatticeSparse
import LatticeTensor

/// Timestep-modulated sparse residual block with optional 2x down/upsampling (applied to the
/// input before both branches). Keys: `norm1.*`, `conv1.conv.*`, `conv2.conv.*`,
/// `emb_layers.1.*`, and `skip_connection.*` when the channel count changes.
public final class SparseResBlock3d: Module, @unchecked Sendable {
    public let channels: Int
    public let embChannels: Int
    public let outChannels: Int
    public let downsample: Bool
    public let upsample: Bool
    /// LayerNorm32(channels, affine, eps 1e-6).
    public let norm1: LayerNorm
    /// LayerNorm32(out_channels, no affine, eps 1e-6), modulated by (scale, shift).
    public let norm2: LayerNorm
    public let conv1: SparseConv3d
    public let conv2: SparseConv3d
    /// `emb_layers.1` (index 0 is SiLU): emb -> [scale, shift] (scale first, unlike adaLN).
    public let embLayers: Linear
    /// nil when channels == out_channels (identity skip).
    public let skipConnection: SparseLinear?

    /// Throws `.invalidConfig` when both `downsample` and `upsample` are set.
    public init(
        channels: Int, embChannels: Int, outChannels: Int? = nil, downsample: Bool = false,
        upsample: Bool = false
    ) throws {
        guard !(downsample && upsample) else {
            throw LatticeError(
                .invalidConfig, "SparseResBlock3d: cannot downsample and upsample at the same time")
        }
        let out = outChannels ?? channels
        self.channels = channels
        self.embChannels = embChannels
        self.outChannels = out
        self.downsample = downsample
        self.upsample = upsample
        norm1 = LayerNorm(channels, eps: 1e-6, affine: true)
        norm2 = LayerNorm(out, eps: 1e-6, affine: false)
        conv1 = SparseConv3d(channels, out, kernel: 3)
        conv2 = SparseConv3d(out, out, kernel: 3)
        embLayers = Linear(embChannels, 2 * out)
        skipConnection = channels != out ? SparseLinear(channels, out) : nil
        super.init()
        register("norm1", norm1)
        register("conv1", conv1)
        register("conv2", conv2)
        register("emb_layers.1", embLayers)
        if let skipConnection { register("skip_connection", skipConnection) }
    }

    /// `x` feats [N, channels]; `emb`: [B, emb_channels] -> feats [N', out_channels], where the
    /// sites are those of `x` after the down/upsample (an upsample needs `x` to descend from the
    /// matching `sparseDownsample`, else it throws).
    public func callAsFunction(_ x: SparseTensor, emb: Tensor) throws -> SparseTensor {
        guard x.feats.rank == 2, x.channels == channels else {
            throw LatticeError(
                .shapeMismatch,
                "SparseResBlock3d: feats \(x.feats.shape) must be [N, \(channels)]")
        }
        guard emb.rank == 2, emb.shape == [x.batchSize, embChannels] else {
            throw LatticeError(
                .shapeMismatch,
                "SparseResBlock3d: emb \(emb.shape) must be [B=\(x.batchSize), \(embChannels)]")
        }
        let embOut = embLayers(emb.silu())  // [B, 2 out]
        var input = x
        if downsample { input = sparseDownsample(x, factor: 2) }
        if upsample { input = try sparseUpsample(x, factor: 2) }
        // Per-item rows [N', 2 out]; a single item's [1, 2 out] broadcasts as is.
        let mod = x.batchSize == 1 ? embOut : embOut.indexSelect(axis: 0, index: input.batchIndex)
        let scale = mod.slice(1, 0, outChannels)
        let shift = mod.slice(1, outChannels, 2 * outChannels)
        var h = try conv1(input.replacing(feats: norm1(input.feats).silu()))
        h = h.replacing(feats: (norm2(h.feats) * (scale + 1) + shift).silu())
        h = try conv2(h)
        let skip = skipConnection.map { $0(input.feats) } ?? input.feats
        return h.replacing(feats: h.feats + skip)
    }
}

/// The SLat flow model: velocity of structured latents (sparse feats on a `resolution`³ grid)
/// given timesteps (x1000) and a conditioning token sequence.
public final class SLatFlowModel: Module, @unchecked Sendable {
    /// Constructor kwargs, keyed as the checkpoints' `ckpts/slat_flow_*.json` `args`. Decoding
    /// rejects unknown fields, naming them.
    public struct Config: Codable, Sendable, Equatable {
        public var resolution: Int
        public var inChannels: Int
        public var modelChannels: Int
        public var condChannels: Int
        public var outChannels: Int
        public var numBlocks: Int
        public var numHeads: Int?
        public var numHeadChannels: Int = 64
        public var mlpRatio: Double = 4
        public var patchSize: Int = 2
        public var numIoResBlocks: Int = 2
        public var ioBlockChannels: [Int]?
        public var peMode: String = "ape"
        public var useFp16: Bool = false
        /// Gradient checkpointing upstream; accepted and ignored (no effect on values).
        public var useCheckpoint: Bool = false
        public var useSkipConnection: Bool = true
        public var shareMod: Bool = false
        public var qkRmsNorm: Bool = false
        public var qkRmsNormCross: Bool = false

        enum CodingKeys: String, CodingKey, CaseIterable {
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
            case numIoResBlocks = "num_io_res_blocks"
            case ioBlockChannels = "io_block_channels"
            case peMode = "pe_mode"
            case useFp16 = "use_fp16"
            case useCheckpoint = "use_checkpoint"
            case useSkipConnection = "use_skip_connection"
            case shareMod = "share_mod"
            case qkRmsNorm = "qk_rms_norm"
            case qkRmsNormCross = "qk_rms_norm_cross"
        }

        /// The upstream argument names this config accepts.
        public static var fieldNames: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }

        /// Any JSON key, to find fields this config does not know.
        private struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        public init(
            resolution: Int, inChannels: Int, modelChannels: Int, condChannels: Int,
            outChannels: Int, numBlocks: Int, numHeads: Int? = nil, numHeadChannels: Int = 64,
            mlpRatio: Double = 4, patchSize: Int = 2, numIoResBlocks: Int = 2,
            ioBlockChannels: [Int]? = nil, peMode: String = "ape", useFp16: Bool = false,
            useCheckpoint: Bool = false, useSkipConnection: Bool = true, shareMod: Bool = false,
            qkRmsNorm: Bool = false, qkRmsNormCross: Bool = false
        ) {
            self.resolution = resolution
            self.inChannels = inChannels
            self.modelChannels = modelChannels
            self.condChannels = condChannels
            self.outChannels = outChannels
            self.numBlocks = numBlocks
            self.numHeads = numHeads
            self.numHeadChannels = numHeadChannels
            self.mlpRatio = mlpRatio
            self.patchSize = patchSize
            self.numIoResBlocks = numIoResBlocks
            self.ioBlockChannels = ioBlockChannels
            self.peMode = peMode
            self.useFp16 = useFp16
            self.useCheckpoint = useCheckpoint
            self.useSkipConnection = useSkipConnection
            self.shareMod = shareMod
            self.qkRmsNorm = qkRmsNorm
            self.qkRmsNormCross = qkRmsNormCross
        }

        public init(from decoder: Decoder) throws {
            let any = try decoder.container(keyedBy: AnyKey.self)
            let known = Self.fieldNames
            if let unknown = any.allKeys.map(\.stringValue).sorted().first(where: {
                !known.contains($0)
            }) {
                throw LatticeError(
                    .invalidConfig,
                    "SLatFlowModel config: unknown field '\(unknown)' (known: "
                        + "\(known.sorted().joined(separator: ", ")))")
            }
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
            numIoResBlocks = try c.decodeIfPresent(Int.self, forKey: .numIoResBlocks) ?? 2
            ioBlockChannels = try c.decodeIfPresent([Int].self, forKey: .ioBlockChannels)
            peMode = try c.decodeIfPresent(String.self, forKey: .peMode) ?? "ape"
            useFp16 = try c.decodeIfPresent(Bool.self, forKey: .useFp16) ?? false
            useCheckpoint = try c.decodeIfPresent(Bool.self, forKey: .useCheckpoint) ?? false
            useSkipConnection =
                try c.decodeIfPresent(Bool.self, forKey: .useSkipConnection) ?? true
            shareMod = try c.decodeIfPresent(Bool.self, forKey: .shareMod) ?? false
            qkRmsNorm = try c.decodeIfPresent(Bool.self, forKey: .qkRmsNorm) ?? false
            qkRmsNormCross = try c.decodeIfPresent(Bool.self, forKey: .qkRmsNormCross) ?? false
        }

        /// `slat_flow_img_dit_L_64l8p2_fp16` (TRELLIS-image-large).
        public static let imageLarge = Config(
            resolution: 64, inChannels: 8, modelChannels: 1024, condChannels: 1024,
            outChannels: 8, numBlocks: 24, numHeads: 16, mlpRatio: 4, patchSize: 2,
            numIoResBlocks: 2, ioBlockChannels: [128], peMode: "ape", useFp16: true,
            qkRmsNorm: true)
    }

    public let config: Config
    public let tEmbedder: TimestepEmbedder
    /// Shared `adaLN_modulation.1` when `share_mod`.
    public let adaLNModulation: Linear?
    /// APE of the pooled integer coordinates (no parameters).
    public let posEmbedder: AbsolutePositionEmbedder
    public let inputLayer: SparseLinear
    /// Full-resolution blocks, then one downsampling block per io stage.
    public let inputBlocks: [SparseResBlock3d]
    public let blocks: [ModulatedSparseTransformerCrossBlock]
    /// One upsampling block per io stage, then full-resolution blocks (each on cat[h, skip]).
    public let outBlocks: [SparseResBlock3d]
    public let outLayer: SparseLinear

    /// Throws `.unsupported` for `pe_mode` "rope" and `.invalidConfig` when the patch size is
    /// not 2^len(io_block_channels) or the heads do not divide the channels.
    public init(_ config: Config) throws {
        guard config.peMode == "ape" else {
            throw LatticeError(
                .unsupported, "SLatFlowModel: pe_mode '\(config.peMode)' (only 'ape' is ported)")
        }
        let c = config.modelChannels
        let heads = config.numHeads ?? c / Swift.max(config.numHeadChannels, 1)
        guard heads > 0, c % heads == 0 else {
            throw LatticeError(
                .invalidConfig,
                "SLatFlowModel: model_channels \(c) not divisible into \(heads) heads")
        }
        if let io = config.ioBlockChannels {
            guard config.patchSize > 0, config.patchSize == 1 << io.count else {
                throw LatticeError(
                    .invalidConfig,
                    "SLatFlowModel: patch_size \(config.patchSize) must be 2^len(io_block_channels) "
                        + "= \(1 << io.count)")
            }
            guard config.numIoResBlocks >= 1 else {
                throw LatticeError(
                    .invalidConfig,
                    "SLatFlowModel: num_io_res_blocks \(config.numIoResBlocks) must be >= 1")
            }
        }
        self.config = config
        tEmbedder = TimestepEmbedder(.init(hiddenSize: c))
        adaLNModulation = config.shareMod ? Linear(c, 6 * c) : nil
        posEmbedder = AbsolutePositionEmbedder(.init(channels: c))
        let io = config.ioBlockChannels
        inputLayer = SparseLinear(config.inChannels, io?.first ?? c)
        var inBlocks: [SparseResBlock3d] = []
        var outs: [SparseResBlock3d] = []
        if let io {
            for (chs, next) in zip(io, Array(io.dropFirst()) + [c]) {
                for _ in 0..<(config.numIoResBlocks - 1) {
                    inBlocks.append(try SparseResBlock3d(channels: chs, embChannels: c))
                }
                inBlocks.append(
                    try SparseResBlock3d(
                        channels: chs, embChannels: c, outChannels: next, downsample: true))
            }
            let skipFactor = config.useSkipConnection ? 2 : 1
            for (chs, prev) in zip(io.reversed(), [c] + Array(io.dropFirst().reversed())) {
                outs.append(
                    try SparseResBlock3d(
                        channels: prev * skipFactor, embChannels: c, outChannels: chs,
                        upsample: true))
                for _ in 0..<(config.numIoResBlocks - 1) {
                    outs.append(
                        try SparseResBlock3d(
                            channels: chs * skipFactor, embChannels: c, outChannels: chs))
                }
            }
        }
        inputBlocks = inBlocks
        outBlocks = outs
        blocks = (0..<config.numBlocks).map { _ in
            ModulatedSparseTransformerCrossBlock(
                channels: c, contextChannels: config.condChannels, numHeads: heads,
                mlpRatio: config.mlpRatio, attnMode: .full, qkRMSNorm: config.qkRmsNorm,
                qkRMSNormCross: config.qkRmsNormCross, shareMod: config.shareMod)
        }
        outLayer = SparseLinear(io?.first ?? c, config.outChannels)
        super.init()
        register("t_embedder", tEmbedder)
        if let adaLNModulation { register("adaLN_modulation.1", adaLNModulation) }
        register("pos_embedder", posEmbedder)
        register("input_layer", inputLayer)
        register(list: "input_blocks", inputBlocks)
        register(list: "blocks", blocks)
        register(list: "out_blocks", outBlocks)
        register("out_layer", outLayer)
    }

    /// The torso (`input_blocks`, `blocks`, `out_blocks`) parameters that upstream's
    /// `convert_to_fp16` casts: Linear / SparseLinear / SparseConv3d weights and biases, not
    /// norm affines or RMS gammas.
    public var torsoHalfParameters: [(String, Parameter)] {
        namedParameters().filter { key, _ in
            let torso = ["input_blocks.", "blocks.", "out_blocks."].contains { key.hasPrefix($0) }
            return torso && !key.contains("norm")
        }
    }

    /// Stores the torso weights as float16 (upstream `convert_to_fp16`; released checkpoints
    /// already hold them so). Values round to the nearest half.
    public func convertToFp16() {
        for (_, p) in torsoHalfParameters where p.value.dtype != .float16 {
            p.assign(p.value.to(.float16))
        }
    }

    /// Upstream `.half()` cast points, kept as float32 holding half-rounded values: with
    /// `use_fp16` the torso computes in float32 from float16 weights (upstream computes in
    /// float16 throughout; the difference is within its rounding).
    private func halfRounded(_ t: Tensor) -> Tensor {
        config.useFp16 ? t.to(.float16).float() : t
    }

    /// `x`: feats [N, in_channels] on coords of the `resolution`³ grid; `t`: [B] (already x1000);
    /// `cond`: [B, L, cond_channels] -> velocity feats [N, out_channels] on the sites of `x`.
    /// `intermediates` receives (upstream module name, output) after `input_layer`, every
    /// `input_blocks.i`, the APE sum (`blocks.0.input_after_ape`), `blocks.i` and `out_blocks.i`.
    public func callAsFunction(
        _ x: SparseTensor, t: Tensor, cond: Tensor,
        intermediates: ((String, SparseTensor) -> Void)? = nil
    ) throws -> SparseTensor {
        guard x.feats.rank == 2, x.channels == config.inChannels else {
            throw LatticeError(
                .shapeMismatch,
                "SLatFlowModel: feats \(x.feats.shape) must be [N, \(config.inChannels)]")
        }
        guard t.rank == 1, t.shape[0] == x.batchSize else {
            throw LatticeError(
                .shapeMismatch, "SLatFlowModel: t \(t.shape) must be [B=\(x.batchSize)]")
        }
        guard cond.rank == 3, cond.shape[0] == x.batchSize, cond.shape[2] == config.condChannels
        else {
            throw LatticeError(
                .shapeMismatch,
                "SLatFlowModel: cond \(cond.shape) must be [B=\(x.batchSize), L, \(config.condChannels)]"
            )
        }
        var h = x.replacing(feats: halfRounded(inputLayer(x.feats)))  // [N, io0]
        intermediates?("input_layer", h)
        var tEmb = tEmbedder(t)  // [B, C]
        if let adaLNModulation { tEmb = adaLNModulation(tEmb.silu()) }  // [B, 6C]
        tEmb = halfRounded(tEmb)
        let context = halfRounded(cond.float())

        var skips: [Tensor] = []
        for (i, block) in inputBlocks.enumerated() {
            h = try block(h, emb: tEmb)
            skips.append(h.feats)
            intermediates?("input_blocks.\(i)", h)
        }
        let pe = posEmbedder(h.coords.slice(1, 1, 4))  // [N', C] of integer (x, y, z)
        h = h.replacing(feats: h.feats + halfRounded(pe))
        intermediates?("blocks.0.input_after_ape", h)
        for (i, block) in blocks.enumerated() {
            h = try block(h, mod: tEmb, context: context)
            intermediates?("blocks.\(i)", h)
        }
        for (i, (block, skip)) in zip(outBlocks, skips.reversed()).enumerated() {
            if config.useSkipConnection {
                h = h.replacing(feats: Tensor.cat([h.feats, skip], axis: 1))  // [N, 2 ch]
            }
            h = try block(h, emb: tEmb)
            intermediates?("out_blocks.\(i)", h)
        }
        let normed = halfRounded(layerNorm(h.feats, weight: nil, bias: nil, eps: 1e-5))
        return h.replacing(feats: outLayer(normed))  // [N, out]
    }
}
