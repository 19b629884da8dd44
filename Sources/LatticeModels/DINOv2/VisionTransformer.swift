// facebookresearch/dinov2@b8931f7:dinov2/models/vision_transformer.py
import LatticeNN
import LatticeTensor

/// The DINOv2 ViT (with optional register tokens), as built by the torch-hub entry points.
public final class DinoVisionTransformer: Module, @unchecked Sendable {
    /// Constructor kwargs of `DinoVisionTransformer.__init__`, keyed as upstream. Missing keys
    /// take the upstream defaults; `block_fn`/`embed_layer`/`act_layer` are fixed to the hub's.
    public struct Config: Codable, Sendable {
        public var imgSize = 224
        public var patchSize = 16
        public var inChans = 3
        public var embedDim = 768
        public var depth = 12
        public var numHeads = 12
        public var mlpRatio = 4.0
        public var qkvBias = true
        public var ffnBias = true
        public var projBias = true
        /// LayerScale init; nil (None) or 0 means no LayerScale.
        public var initValues: Float? = nil
        public var ffnLayer = "mlp"
        public var blockChunks = 1
        public var numRegisterTokens = 0
        public var interpolateAntialias = false
        public var interpolateOffset = 0.1

        enum CodingKeys: String, CodingKey {
            case imgSize = "img_size"
            case patchSize = "patch_size"
            case inChans = "in_chans"
            case embedDim = "embed_dim"
            case depth
            case numHeads = "num_heads"
            case mlpRatio = "mlp_ratio"
            case qkvBias = "qkv_bias"
            case ffnBias = "ffn_bias"
            case projBias = "proj_bias"
            case initValues = "init_values"
            case ffnLayer = "ffn_layer"
            case blockChunks = "block_chunks"
            case numRegisterTokens = "num_register_tokens"
            case interpolateAntialias = "interpolate_antialias"
            case interpolateOffset = "interpolate_offset"
        }

        public init() {}

        /// The `dinov2_vitl14_reg` hub configuration (TRELLIS image conditioner).
        public static var vitl14Reg: Config {
            var c = Config()
            c.imgSize = 518
            c.patchSize = 14
            c.embedDim = 1024
            c.depth = 24
            c.numHeads = 16
            c.initValues = 1.0
            c.blockChunks = 0
            c.numRegisterTokens = 4
            c.interpolateAntialias = true
            c.interpolateOffset = 0.0
            return c
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Config()
            imgSize = try c.decodeIfPresent(Int.self, forKey: .imgSize) ?? d.imgSize
            patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? d.patchSize
            inChans = try c.decodeIfPresent(Int.self, forKey: .inChans) ?? d.inChans
            embedDim = try c.decodeIfPresent(Int.self, forKey: .embedDim) ?? d.embedDim
            depth = try c.decodeIfPresent(Int.self, forKey: .depth) ?? d.depth
            numHeads = try c.decodeIfPresent(Int.self, forKey: .numHeads) ?? d.numHeads
            mlpRatio = try c.decodeIfPresent(Double.self, forKey: .mlpRatio) ?? d.mlpRatio
            qkvBias = try c.decodeIfPresent(Bool.self, forKey: .qkvBias) ?? d.qkvBias
            ffnBias = try c.decodeIfPresent(Bool.self, forKey: .ffnBias) ?? d.ffnBias
            projBias = try c.decodeIfPresent(Bool.self, forKey: .projBias) ?? d.projBias
            initValues = try c.decodeIfPresent(Float.self, forKey: .initValues)
            ffnLayer = try c.decodeIfPresent(String.self, forKey: .ffnLayer) ?? d.ffnLayer
            blockChunks = try c.decodeIfPresent(Int.self, forKey: .blockChunks) ?? d.blockChunks
            numRegisterTokens =
                try c.decodeIfPresent(Int.self, forKey: .numRegisterTokens) ?? d.numRegisterTokens
            interpolateAntialias =
                try c.decodeIfPresent(Bool.self, forKey: .interpolateAntialias)
                ?? d.interpolateAntialias
            interpolateOffset =
                try c.decodeIfPresent(Double.self, forKey: .interpolateOffset)
                ?? d.interpolateOffset
        }
    }

    /// The `forward_features` dict (minus `masks`).
    public struct Output {
        /// [B, C]: final norm of the cls token.
        public var xNormClstoken: Tensor
        /// [B, R, C]: final norm of the register tokens.
        public var xNormRegtokens: Tensor
        /// [B, N, C]: final norm of the patch tokens (row-major grid).
        public var xNormPatchtokens: Tensor
        /// [B, 1+R+N, C]: last block output before the final norm (what TRELLIS uses).
        public var xPrenorm: Tensor
    }

    public let config: Config
    public let patchEmbed: DINOv2.PatchEmbed
    public let clsToken: Parameter
    public let posEmbed: Parameter
    public let registerTokens: Parameter?
    public let blocks: [DINOv2.Block]
    public let norm: LayerNorm
    /// Unused at inference (masked-image training only), kept so checkpoints load strictly.
    public let maskToken: Parameter

    public init(_ config: Config) throws {
        guard config.ffnLayer == "mlp" else {
            throw LatticeError(
                .unsupported, "DinoVisionTransformer: ffn_layer '\(config.ffnLayer)' (only 'mlp')")
        }
        guard config.blockChunks >= 0, config.blockChunks <= config.depth else {
            throw LatticeError(
                .invalidConfig,
                "DinoVisionTransformer: block_chunks \(config.blockChunks) for depth \(config.depth)"
            )
        }
        self.config = config
        let c = config.embedDim
        let gridSide = config.imgSize / config.patchSize
        patchEmbed = DINOv2.PatchEmbed(
            patchSize: config.patchSize, inChans: config.inChans, embedDim: c)
        clsToken = Parameter(Tensor(zeros: [1, 1, c]))
        posEmbed = Parameter(Tensor(zeros: [1, gridSide * gridSide + 1, c]))
        registerTokens =
            config.numRegisterTokens > 0
            ? Parameter(Tensor(zeros: [1, config.numRegisterTokens, c])) : nil
        let layerScale = config.initValues.flatMap { $0 == 0 ? nil : $0 }
        blocks = (0..<config.depth).map { _ in
            DINOv2.Block(
                dim: c, numHeads: config.numHeads, mlpRatio: config.mlpRatio,
                qkvBias: config.qkvBias, projBias: config.projBias, ffnBias: config.ffnBias,
                initValues: layerScale)
        }
        norm = LayerNorm(c, eps: 1e-6, affine: true)
        maskToken = Parameter(Tensor(zeros: [1, c]))
        super.init()
        register("cls_token", clsToken)
        register("pos_embed", posEmbed)
        if let registerTokens { register("register_tokens", registerTokens) }
        register("mask_token", maskToken)
        register("patch_embed", patchEmbed)
        // block_chunks > 0 nests blocks as `blocks.<chunk>.<global index>` (upstream pads each
        // chunk with Identity modules so the inner index stays global).
        if config.blockChunks > 0 {
            let chunkSize = config.depth / config.blockChunks
            for (i, b) in blocks.enumerated() { register("blocks.\(i / chunkSize).\(i)", b) }
        } else {
            register(list: "blocks", blocks)
        }
        register("norm", norm)
    }

    /// Position embeddings for an image of `height` x `width` pixels whose token sequence
    /// (cls + patches) has `tokenCount` entries: [1, 1 + (H/p)(W/p), C].
    /// As upstream, `pos_embed` is returned unchanged only when the patch count matches and the
    /// image is square; otherwise the patch grid is resized (even to its own size).
    public func interpolatePosEncoding(tokenCount: Int, height: Int, width: Int) throws -> Tensor {
        let pos = posEmbed.value
        let n = pos.shape[1] - 1
        if tokenCount - 1 == n && height == width { return pos }
        let c = pos.shape[2]
        let m = Int(Double(n).squareRoot())
        guard m * m == n else {
            throw LatticeError(
                .shapeMismatch, "pos_embed has \(n) patch entries, not a square grid")
        }
        guard config.interpolateOffset == 0 else {
            // The offset path resizes by scale_factor, which changes the sampling positions.
            throw LatticeError(
                .unsupported,
                "DinoVisionTransformer: interpolate_offset \(config.interpolateOffset) (only 0)")
        }
        let rows = height / config.patchSize
        let cols = width / config.patchSize
        let pos32 = pos.float()
        let clsPos = pos32.slice(1, 0, 1)  // [1, 1, C]
        let grid = pos32.slice(1, 1).reshape([1, m, m, c]).permute([0, 3, 1, 2])  // [1, C, M, M]
        let resized = interpolate(
            grid, size: [rows, cols], mode: .bicubic, alignCorners: false,
            antialias: config.interpolateAntialias)  // [1, C, rows, cols]
        let patchPos = resized.permute([0, 2, 3, 1]).reshape([1, rows * cols, c])  // [1, rows*cols, C]
        return Tensor.cat([clsPos, patchPos], axis: 1).to(pos.dtype)  // [1, 1+rows*cols, C]
    }

    /// `prepare_tokens_with_masks` without masks: [B, 3, H, W] -> [B, 1+R+N, C].
    public func prepareTokens(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == config.inChans,
            x.shape[2] % config.patchSize == 0, x.shape[3] % config.patchSize == 0
        else {
            throw LatticeError(
                .shapeMismatch,
                "DinoVisionTransformer: input \(x.shape), expected [B, \(config.inChans), H, W] "
                    + "with H and W multiples of \(config.patchSize)")
        }
        let b = x.shape[0]
        let c = config.embedDim
        let patches = patchEmbed(x)  // [B, N, C]
        var tokens = Tensor.cat([clsToken.value.expand([b, 1, c]), patches], axis: 1)  // [B, 1+N, C]
        tokens =
            tokens
            + (try interpolatePosEncoding(
                tokenCount: tokens.shape[1], height: x.shape[2], width: x.shape[3]))
        // Registers go in after the position embedding, so they carry no position.
        if let registerTokens {
            let r = registerTokens.shape[1]
            tokens = Tensor.cat(
                [
                    tokens.slice(1, 0, 1), registerTokens.value.expand([b, r, c]),
                    tokens.slice(1, 1),
                ],
                axis: 1)  // [B, 1+R+N, C]
        }
        return tokens
    }

    /// `forward_features(x)` (== `forward(x, is_training=True)`): `x` [B, 3, H, W] normalised.
    public func forwardFeatures(_ x: Tensor) throws -> Output {
        var h = try prepareTokens(x)  // [B, 1+R+N, C]
        for block in blocks { h = block(h) }
        let normed = norm(h)
        let r = config.numRegisterTokens
        return Output(
            xNormClstoken: normed.select(1, 0),  // [B, C]
            xNormRegtokens: normed.slice(1, 1, 1 + r),  // [B, R, C]
            xNormPatchtokens: normed.slice(1, 1 + r),  // [B, N, C]
            xPrenorm: h)
    }

    /// Accepts the Hugging Face layout (`facebook/dinov2-with-registers-*` safetensors:
    /// `embeddings.*`, `encoder.layer.<i>.*` with split query/key/value, `layer_scale<k>.lambda1`,
    /// `layernorm.*`) by renaming to the torch-hub keys and fusing q, k, v into `qkv`
    /// (rows in q, k, v order). Hub-layout checkpoints pass through unchanged.
    public override func sanitize(_ weights: [String: Tensor]) -> [String: Tensor] {
        guard
            weights.keys.contains(where: {
                $0.hasPrefix("embeddings.") || $0.hasPrefix("encoder.layer.")
            })
        else { return weights }
        let renames: [(String, String)] = [
            ("embeddings.cls_token", "cls_token"), ("embeddings.mask_token", "mask_token"),
            ("embeddings.position_embeddings", "pos_embed"),
            ("embeddings.register_tokens", "register_tokens"),
            ("embeddings.patch_embeddings.projection.", "patch_embed.proj."),
            ("layernorm.", "norm."),
        ]
        let blockRenames: [(String, String)] = [
            ("attention.output.dense.", "attn.proj."), ("layer_scale1.lambda1", "ls1.gamma"),
            ("layer_scale2.lambda1", "ls2.gamma"),
        ]
        var out: [String: Tensor] = [:]
        var qkvParts: [String: [String: Tensor]] = [:]  // "blocks.i.attn.qkv.weight" -> q/k/v
        for (key, value) in weights {
            var k = key
            for (from, to) in renames where k.hasPrefix(from) {
                k = to + k.dropFirst(from.count)
            }
            if k.hasPrefix("encoder.layer.") {
                let rest = k.dropFirst("encoder.layer.".count)
                guard let dot = rest.firstIndex(of: ".") else {
                    out[key] = value
                    continue
                }
                let index = rest[..<dot]
                var tail = String(rest[rest.index(after: dot)...])
                for (from, to) in blockRenames where tail.hasPrefix(from) {
                    tail = to + tail.dropFirst(from.count)
                }
                let attentionPrefix = "attention.attention."
                if tail.hasPrefix(attentionPrefix) {
                    // "query.weight" -> part "query", suffix "weight"
                    let parts = tail.dropFirst(attentionPrefix.count).split(separator: ".")
                    if parts.count == 2 {
                        qkvParts["blocks.\(index).attn.qkv.\(parts[1])", default: [:]][
                            String(parts[0])] =
                            value
                        continue
                    }
                }
                k = "blocks.\(index).\(tail)"
            }
            out[k] = value
        }
        for (key, parts) in qkvParts {
            if let q = parts["query"], let kk = parts["key"], let v = parts["value"],
                parts.count == 3
            {
                out[key] = Tensor.cat([q, kk, v], axis: 0)  // [3C, C] or [3C]
            } else {
                // Incomplete triple: keep the pieces under recognisable names so strict loading
                // reports them.
                for (name, t) in parts { out[key + "." + name] = t }
            }
        }
        return out
    }
}
