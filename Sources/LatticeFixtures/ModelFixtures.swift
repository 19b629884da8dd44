// Fixture handlers for the model ports (TRELLIS embedders, DINOv2, CLIP): each builds the module
// from the fixture's `config` JSON, loads `param.*` strictly, runs it on `input.*` and returns
// the outputs under the fixture's `output.*` names (prefix stripped).
import Foundation
import LatticeModels

/// A fixture handler: (config JSON, params by state_dict key, inputs by name) -> outputs by name.
public typealias ModelFixtureHandler =
    @Sendable (Data, [String: Tensor], [String: Tensor]) throws -> [String: Tensor]

/// Handlers of the model fixtures, by fixture case name.
public let modelFixtureHandlers: [String: ModelFixtureHandler] = [
    "trellis__timestep_embedder": timestepEmbedderFixture,
    "trellis__ape_c64": absolutePositionEmbedderFixture,
    "trellis__ape_c70": absolutePositionEmbedderFixture,
    "dinov2__vitreg_square": dinoVisionTransformerFixture,
    "dinov2__vitreg_posinterp": dinoVisionTransformerFixture,
    "dinov2__interpolate_pos_encoding_518": dinoInterpolatePosEncodingFixture,
    "clip__text_model_small": clipTextModelFixture,
    "clip__tokenizer_bpe": clipTokenizerFixture,
]

private func decode<T: Decodable>(_ type: T.Type, _ config: Data) throws -> T {
    do {
        return try JSONDecoder().decode(T.self, from: config)
    } catch {
        throw LatticeError(.invalidConfig, "fixture config does not decode as \(T.self): \(error)")
    }
}

private func input(_ inputs: [String: Tensor], _ name: String) throws -> Tensor {
    guard let t = inputs[name] else {
        throw LatticeError(
            .missingKey, "fixture has no input.\(name) (has \(inputs.keys.sorted()))")
    }
    return t
}

/// `TimestepEmbedder`: outputs `emb` and `t_freq`.
public func timestepEmbedderFixture(
    config: Data, params: [String: Tensor], inputs: [String: Tensor]
) throws -> [String: Tensor] {
    let cfg = try decode(TimestepEmbedder.Config.self, config)
    let model = TimestepEmbedder(cfg)
    try model.load(params, source: "trellis__timestep_embedder")
    let t = try input(inputs, "t")
    return withNoGrad {
        [
            "emb": model(t),
            "t_freq": TimestepEmbedder.timestepEmbedding(t, dim: cfg.frequencyEmbeddingSize),
        ]
    }
}

/// `AbsolutePositionEmbedder`: output `emb` for `input.coords`.
public func absolutePositionEmbedderFixture(
    config: Data, params: [String: Tensor], inputs: [String: Tensor]
) throws -> [String: Tensor] {
    let model = AbsolutePositionEmbedder(try decode(AbsolutePositionEmbedder.Config.self, config))
    try model.load(params, source: "AbsolutePositionEmbedder fixture")
    return ["emb": model(try input(inputs, "coords"))]
}

/// `DinoVisionTransformer.forward_features` plus `pos_embed_used` and TRELLIS's `trellis_cond`.
public func dinoVisionTransformerFixture(
    config: Data, params: [String: Tensor], inputs: [String: Tensor]
) throws -> [String: Tensor] {
    let model = try DinoVisionTransformer(try decode(DinoVisionTransformer.Config.self, config))
    try model.load(params, source: "DinoVisionTransformer fixture")
    let x = try input(inputs, "x")  // [B, 3, H, W], already ImageNet-normalised
    return try withNoGrad {
        let out = try model.forwardFeatures(x)
        let p = model.config.patchSize
        let tokens = 1 + (x.shape[2] / p) * (x.shape[3] / p)
        return [
            "x_norm_clstoken": out.xNormClstoken,
            "x_norm_regtokens": out.xNormRegtokens,
            "x_norm_patchtokens": out.xNormPatchtokens,
            "x_prenorm": out.xPrenorm,
            // TRELLIS conditioning: plain LayerNorm (eps 1e-5, no affine) of x_prenorm.
            "trellis_cond": layerNorm(out.xPrenorm, weight: nil, bias: nil, eps: 1e-5),
            "pos_embed_used": try model.interpolatePosEncoding(
                tokenCount: tokens, height: x.shape[2], width: x.shape[3]),
        ]
    }
}

/// `DinoVisionTransformer.interpolate_pos_encoding` alone, for each `sizes_hw` and the square
/// `img_size` (early return). Only `pos_embed` is stored, so it is set directly.
public func dinoInterpolatePosEncodingFixture(
    config: Data, params: [String: Tensor], inputs: [String: Tensor]
) throws -> [String: Tensor] {
    struct Sizes: Decodable {
        let sizesHw: [[Int]]
        enum CodingKeys: String, CodingKey { case sizesHw = "sizes_hw" }
    }
    var cfg = try decode(DinoVisionTransformer.Config.self, config)
    cfg.depth = 0
    cfg.blockChunks = 0
    let sizes = try decode(Sizes.self, config).sizesHw + [[cfg.imgSize, cfg.imgSize]]
    let model = try DinoVisionTransformer(cfg)
    guard let pos = params["pos_embed"], pos.shape == model.posEmbed.shape else {
        throw LatticeError(
            .missingKey,
            "fixture needs param.pos_embed of shape \(model.posEmbed.shape), has "
                + "\(params["pos_embed"]?.shape.description ?? "none")")
    }
    model.posEmbed.value = pos
    var out: [String: Tensor] = [:]
    for hw in sizes {
        let tokens = 1 + (hw[0] / cfg.patchSize) * (hw[1] / cfg.patchSize)
        out["pos_\(hw[0])x\(hw[1])"] = try model.interpolatePosEncoding(
            tokenCount: tokens, height: hw[0], width: hw[1])
    }
    return out
}

/// `CLIPTextModel(input_ids)` with no attention mask: `last_hidden_state`, `pooler_output`.
public func clipTextModelFixture(
    config: Data, params: [String: Tensor], inputs: [String: Tensor]
) throws -> [String: Tensor] {
    let model = try CLIPTextModel(try decode(CLIPTextConfig.self, config))
    try model.load(params, source: "clip__text_model_small")
    let (last, pooled) = try withNoGrad { try model(try input(inputs, "input_ids")) }
    return ["last_hidden_state": last, "pooler_output": pooled]
}

/// Where the CLIP BPE vocabulary is: `$LATTICE_CLIP_BPE_VOCAB`, else the copy next to the
/// fixtures (`Tests/Fixtures/clip-bpe-vocab-16e6.txt.gz` under the current directory).
public func clipVocabularyURL() -> URL {
    if let path = ProcessInfo.processInfo.environment["LATTICE_CLIP_BPE_VOCAB"] {
        return URL(fileURLWithPath: path)
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        .appendingPathComponent("Tests/Fixtures/clip-bpe-vocab-16e6.txt.gz")
}

/// `CLIPTokenizer(prompts, max_length, padding="max_length", truncation=True)` on the config's
/// prompts: `input_ids`, `attention_mask` and `untruncated_ids.<i>`.
public func clipTokenizerFixture(
    config: Data, params: [String: Tensor], inputs: [String: Tensor]
) throws -> [String: Tensor] {
    struct Config: Decodable {
        let prompts: [String]
        let maxLength: Int
        enum CodingKeys: String, CodingKey {
            case prompts
            case maxLength = "max_length"
        }
    }
    let cfg = try decode(Config.self, config)
    let tokenizer = try CLIPTokenizer(
        bpeVocabularyURL: clipVocabularyURL(), maxLength: cfg.maxLength)
    let (ids, mask) = tokenizer(cfg.prompts)
    var out = ["input_ids": ids, "attention_mask": mask]
    for (i, prompt) in cfg.prompts.enumerated() {
        let full = tokenizer.encode(prompt).map { Int32($0) }
        out["untruncated_ids.\(i)"] = Tensor(int32: full, shape: [full.count])
    }
    return out
}
