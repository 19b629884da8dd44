// huggingface/transformers==5.23.0:src/transformers/models/clip/modeling_clip.py (text tower:
// CLIPTextModel and the modules it is built from; inference only, no dropout).
import LatticeNN
import LatticeTensor

/// `CLIPTextConfig`, keyed as the hub `config.json` (`text_config`).
public struct CLIPTextConfig: Codable, Sendable {
    public var vocabSize = 49408
    public var hiddenSize = 512
    public var intermediateSize = 2048
    public var projectionDim = 512
    public var numHiddenLayers = 12
    public var numAttentionHeads = 8
    public var maxPositionEmbeddings = 77
    public var hiddenAct = "quick_gelu"
    public var layerNormEps = 1e-5
    public var padTokenId = 1
    public var bosTokenId = 49406
    public var eosTokenId = 49407

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case projectionDim = "projection_dim"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings"
        case hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
        case padTokenId = "pad_token_id"
        case bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id"
    }

    public init() {}

    /// The text tower of `openai/clip-vit-large-patch14` (TRELLIS text conditioner).
    public static var clipVitLargePatch14: CLIPTextConfig {
        var c = CLIPTextConfig()
        c.hiddenSize = 768
        c.intermediateSize = 3072
        c.projectionDim = 768
        c.numAttentionHeads = 12
        c.bosTokenId = 0
        c.eosTokenId = 2
        c.padTokenId = 1
        return c
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CLIPTextConfig()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize =
            try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        projectionDim = try c.decodeIfPresent(Int.self, forKey: .projectionDim) ?? d.projectionDim
        numHiddenLayers =
            try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads =
            try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        maxPositionEmbeddings =
            try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings)
            ?? d.maxPositionEmbeddings
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? d.layerNormEps
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId) ?? d.padTokenId
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId) ?? d.bosTokenId
        eosTokenId = try c.decodeIfPresent(Int.self, forKey: .eosTokenId) ?? d.eosTokenId
    }
}

/// Token plus learned absolute position embeddings.
public final class CLIPTextEmbeddings: Module, @unchecked Sendable {
    public let tokenEmbedding: Embedding
    public let positionEmbedding: Embedding

    public init(_ config: CLIPTextConfig) {
        tokenEmbedding = Embedding(config.vocabSize, config.hiddenSize)
        positionEmbedding = Embedding(config.maxPositionEmbeddings, config.hiddenSize)
        super.init()
        register("token_embedding", tokenEmbedding)
        register("position_embedding", positionEmbedding)
    }

    /// `inputIds`: [B, L] integer ids -> [B, L, C] (positions 0..<L).
    public func callAsFunction(_ inputIds: Tensor) -> Tensor {
        let l = inputIds.shape[1]
        let positions = Tensor(int32: (0..<l).map { Int32($0) }, shape: [1, l])  // [1, L]
        return tokenEmbedding(inputIds) + positionEmbedding(positions)  // [B, L, C]
    }
}

/// Multi-head attention with separate q/k/v projections and `out_proj`.
public final class CLIPAttention: Module, @unchecked Sendable {
    public let numHeads: Int
    public let headDim: Int
    public let kProj: Linear
    public let vProj: Linear
    public let qProj: Linear
    public let outProj: Linear

    public init(_ config: CLIPTextConfig) {
        numHeads = config.numAttentionHeads
        headDim = config.hiddenSize / config.numAttentionHeads
        let c = config.hiddenSize
        kProj = Linear(c, c)
        vProj = Linear(c, c)
        qProj = Linear(c, c)
        outProj = Linear(c, c)
        super.init()
        register("k_proj", kProj)
        register("v_proj", vProj)
        register("q_proj", qProj)
        register("out_proj", outProj)
    }

    /// `x`: [B, L, C]; `mask`: additive, broadcastable to [B, H, L, L] -> [B, L, C].
    public func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor {
        let (b, l, c) = (x.shape[0], x.shape[1], x.shape[2])
        func heads(_ t: Tensor) -> Tensor {
            t.reshape([b, l, numHeads, headDim]).transpose(1, 2)  // [B, H, L, D]
        }
        let o = scaledDotProductAttention(
            heads(qProj(x)), heads(kProj(x)), heads(vProj(x)), mask: mask,
            scale: 1 / Float(headDim).squareRoot())  // [B, H, L, D]
        return outProj(o.transpose(1, 2).reshape([b, l, c]))  // [B, L, C]
    }
}

/// `fc2(act(fc1(x)))`; the activation is the config's `hidden_act`.
public final class CLIPMLP: Module, @unchecked Sendable {
    public let fc1: Linear
    public let fc2: Linear
    public let hiddenAct: String

    public init(_ config: CLIPTextConfig) throws {
        guard ["quick_gelu", "gelu"].contains(config.hiddenAct) else {
            throw LatticeError(
                .unsupported, "CLIPTextConfig.hidden_act '\(config.hiddenAct)' (quick_gelu, gelu)")
        }
        hiddenAct = config.hiddenAct
        fc1 = Linear(config.hiddenSize, config.intermediateSize)
        fc2 = Linear(config.intermediateSize, config.hiddenSize)
        super.init()
        register("fc1", fc1)
        register("fc2", fc2)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = fc1(x)
        return fc2(hiddenAct == "quick_gelu" ? h.quickGelu() : h.gelu(approximate: .none))
    }
}

/// Pre-LN encoder layer: attention then MLP, each with a residual.
public final class CLIPEncoderLayer: Module, @unchecked Sendable {
    public let selfAttn: CLIPAttention
    public let layerNorm1: LayerNorm
    public let mlp: CLIPMLP
    public let layerNorm2: LayerNorm

    public init(_ config: CLIPTextConfig) throws {
        let eps = Float(config.layerNormEps)
        selfAttn = CLIPAttention(config)
        layerNorm1 = LayerNorm(config.hiddenSize, eps: eps, affine: true)
        mlp = try CLIPMLP(config)
        layerNorm2 = LayerNorm(config.hiddenSize, eps: eps, affine: true)
        super.init()
        register("self_attn", selfAttn)
        register("layer_norm1", layerNorm1)
        register("mlp", mlp)
        register("layer_norm2", layerNorm2)
    }

    public func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor {
        let h = x + selfAttn(layerNorm1(x), mask: mask)
        return h + mlp(layerNorm2(h))
    }
}

/// The stack of encoder layers (`encoder.layers.<i>`).
public final class CLIPEncoder: Module, @unchecked Sendable {
    public let layers: [CLIPEncoderLayer]

    public init(_ config: CLIPTextConfig) throws {
        layers = try (0..<config.numHiddenLayers).map { _ in try CLIPEncoderLayer(config) }
        super.init()
        register(list: "layers", layers)
    }

    public func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor {
        layers.reduce(x) { h, layer in layer(h, mask: mask) }
    }
}

/// Embeddings, causal encoder, final LayerNorm and EOS pooling.
public final class CLIPTextTransformer: Module, @unchecked Sendable {
    public let config: CLIPTextConfig
    public let embeddings: CLIPTextEmbeddings
    public let encoder: CLIPEncoder
    public let finalLayerNorm: LayerNorm

    public init(_ config: CLIPTextConfig) throws {
        self.config = config
        embeddings = CLIPTextEmbeddings(config)
        encoder = try CLIPEncoder(config)
        finalLayerNorm = LayerNorm(config.hiddenSize, eps: Float(config.layerNormEps), affine: true)
        super.init()
        register("embeddings", embeddings)
        register("encoder", encoder)
        register("final_layer_norm", finalLayerNorm)
    }

    /// Additive causal mask [1, 1, L, L]: query i sees keys j <= i.
    static func causalMask(_ l: Int) -> Tensor {
        var m = [Float](repeating: 0, count: l * l)
        for i in 0..<l { for j in (i + 1)..<max(l, i + 1) { m[i * l + j] = -.infinity } }
        return Tensor(m, shape: [1, 1, l, l])
    }

    /// `inputIds`: [B, L] -> (last_hidden_state [B, L, C], pooler_output [B, C]).
    /// No padding mask, as TRELLIS calls it: padding tokens are attended causally.
    public func callAsFunction(_ inputIds: Tensor) throws -> (
        lastHiddenState: Tensor, poolerOutput: Tensor
    ) {
        guard inputIds.rank == 2, inputIds.shape[1] <= config.maxPositionEmbeddings else {
            throw LatticeError(
                .shapeMismatch,
                "CLIPTextTransformer: input_ids \(inputIds.shape), expected [B, L] with L <= "
                    + "\(config.maxPositionEmbeddings)")
        }
        let (b, l) = (inputIds.shape[0], inputIds.shape[1])
        let ids = inputIds.toInts()
        if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw LatticeError(
                .invalidArgument,
                "CLIPTextTransformer: token id \(bad) outside [0, \(config.vocabSize))")
        }
        var h = embeddings(inputIds)  // [B, L, C]
        h = encoder(h, mask: Self.causalMask(l))
        let last = finalLayerNorm(h)  // [B, L, C]
        // Pooling as transformers: the legacy eos id 2 means "the largest id" (argmax); any
        // other eos id pools the first position holding it.
        let rows = (0..<b).map { bi -> Tensor in
            let row = Array(ids[(bi * l)..<((bi + 1) * l)])
            var pos = 0
            if config.eosTokenId == 2 {
                // argmax, first maximum on ties (as torch.argmax)
                for j in row.indices where row[j] > row[pos] { pos = j }
            } else {
                pos = row.firstIndex(of: config.eosTokenId) ?? 0
            }
            return last.select(0, bi).select(0, pos).unsqueeze(0)  // [1, C]
        }
        return (last, Tensor.cat(rows, axis: 0))  // [B, C]
    }
}

/// `CLIPTextModel`: the text tower under the `text_model.` key prefix of hub checkpoints.
public final class CLIPTextModel: Module, @unchecked Sendable {
    public let textModel: CLIPTextTransformer

    public init(_ config: CLIPTextConfig) throws {
        textModel = try CLIPTextTransformer(config)
        super.init()
        register("text_model", textModel)
    }

    /// Hub checkpoints carry a `position_ids` buffer we do not use; transformers 5.x
    /// `state_dict()` drops the `text_model.` prefix, which we restore. A full `CLIPModel`
    /// checkpoint (e.g. `openai/clip-vit-large-patch14/model.safetensors`) also holds the vision
    /// tower and the projections, which the text model does not use.
    public override func sanitize(_ weights: [String: Tensor]) -> [String: Tensor] {
        let otherTowers = [
            "vision_model.", "visual_projection.", "text_projection.", "logit_scale",
        ]
        var out: [String: Tensor] = [:]
        for (key, value) in weights {
            if key.hasSuffix("embeddings.position_ids") { continue }
            if otherTowers.contains(where: { key.hasPrefix($0) }) { continue }
            out[key.hasPrefix("text_model.") ? key : "text_model." + key] = value
        }
        return out
    }

    /// `inputIds`: [B, L] -> (last_hidden_state [B, L, C], pooler_output [B, C]).
    public func callAsFunction(_ inputIds: Tensor) throws -> (
        lastHiddenState: Tensor, poolerOutput: Tensor
    ) {
        try textModel(inputIds)
    }
}
