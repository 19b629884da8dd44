// Fixture handlers for the model ports (TRELLIS embedders, DINOv2, CLIP): each builds the module
// from the fixture's `config`, loads `param.*` strictly, runs it on `input.*` and returns the
// outputs under the fixture's `output.*` names (prefix stripped).
import Foundation
import LatticeModels

/// Handlers of the `trellis__timestep_embedder`, `trellis__ape_*`, `dinov2__*` and `clip__*` cases.
enum ModelFixtures {
    /// `TimestepEmbedder`: `emb` and the sinusoidal features `t_freq`.
    static func timestepEmbedder(_ f: Fixture) throws -> [String: any FixtureValue] {
        let cfg = try f.config(TimestepEmbedder.Config.self)
        let model = TimestepEmbedder(cfg)
        try model.load(f.params, source: f.url.path)
        let t = try f.input("t")  // [N], already x1000
        return withNoGrad {
            [
                "emb": model(t),
                "t_freq": TimestepEmbedder.timestepEmbedding(t, dim: cfg.frequencyEmbeddingSize),
            ]
        }
    }

    /// `AbsolutePositionEmbedder`: `emb` of `input.coords`.
    static func absolutePositionEmbedder(_ f: Fixture) throws -> [String: any FixtureValue] {
        let model = AbsolutePositionEmbedder(try f.config(AbsolutePositionEmbedder.Config.self))
        try model.load(f.params, source: f.url.path)
        return ["emb": model(try f.input("coords"))]
    }

    /// `DinoVisionTransformer.forward_features` plus `pos_embed_used` and TRELLIS's `trellis_cond`.
    static func dinoVisionTransformer(_ f: Fixture) throws -> [String: any FixtureValue] {
        let model = try DinoVisionTransformer(try f.config(DinoVisionTransformer.Config.self))
        try model.load(f.params, source: f.url.path)
        let x = try f.input("x")  // [B, 3, H, W], already ImageNet-normalised
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

    /// `interpolate_pos_encoding` alone for each `sizes_hw` and the square `img_size` (early
    /// return). Only `pos_embed` is stored, so it is set directly instead of a strict load.
    static func dinoInterpolatePosEncoding(_ f: Fixture) throws -> [String: any FixtureValue] {
        struct Sizes: Decodable {
            let sizesHw: [[Int]]
            enum CodingKeys: String, CodingKey { case sizesHw = "sizes_hw" }
        }
        var cfg = try f.config(DinoVisionTransformer.Config.self)
        cfg.depth = 0
        cfg.blockChunks = 0
        let sizes = try f.config(Sizes.self).sizesHw + [[cfg.imgSize, cfg.imgSize]]
        let model = try DinoVisionTransformer(cfg)
        guard let pos = f.params["pos_embed"], pos.shape == model.posEmbed.shape else {
            throw LatticeError(
                .missingKey,
                "\(f.url.path): needs param.pos_embed of shape \(model.posEmbed.shape), has "
                    + "\(f.params["pos_embed"]?.shape.description ?? "none")")
        }
        model.posEmbed.value = pos
        var out: [String: any FixtureValue] = [:]
        for hw in sizes {
            let tokens = 1 + (hw[0] / cfg.patchSize) * (hw[1] / cfg.patchSize)
            out["pos_\(hw[0])x\(hw[1])"] = try model.interpolatePosEncoding(
                tokenCount: tokens, height: hw[0], width: hw[1])
        }
        return out
    }

    /// `CLIPTextModel(input_ids)` with no attention mask: `last_hidden_state`, `pooler_output`.
    static func clipTextModel(_ f: Fixture) throws -> [String: any FixtureValue] {
        let model = try CLIPTextModel(try f.config(CLIPTextConfig.self))
        try model.load(f.params, source: f.url.path)
        let (last, pooled) = try withNoGrad { try model(try f.input("input_ids")) }
        return ["last_hidden_state": last, "pooler_output": pooled]
    }

    /// The CLIP BPE vocabulary: `$LATTICE_CLIP_BPE_VOCAB`, else `clip-bpe-vocab-16e6.txt.gz`
    /// next to the fixture file.
    static func clipVocabularyURL(near fixture: URL) -> URL {
        if let path = ProcessInfo.processInfo.environment["LATTICE_CLIP_BPE_VOCAB"] {
            return URL(fileURLWithPath: path)
        }
        return fixture.deletingLastPathComponent()
            .appendingPathComponent("clip-bpe-vocab-16e6.txt.gz")
    }

    /// `CLIPTokenizer(prompts, max_length, padding="max_length", truncation=True)`:
    /// `input_ids`, `attention_mask`, `untruncated_ids.<i>`, and open_clip's convention
    /// (`open_clip_ids`: zero padding, EOT forced into the last slot when truncating).
    static func clipTokenizer(_ f: Fixture) throws -> [String: any FixtureValue] {
        struct Config: Decodable {
            let prompts: [String]
            let maxLength: Int
            enum CodingKeys: String, CodingKey {
                case prompts
                case maxLength = "max_length"
            }
        }
        let cfg = try f.config(Config.self)
        let tokenizer = try CLIPTokenizer(
            bpeVocabularyURL: clipVocabularyURL(near: f.url), maxLength: cfg.maxLength)
        let (ids, mask) = tokenizer(cfg.prompts)
        var out: [String: any FixtureValue] = ["input_ids": ids, "attention_mask": mask]
        var openClip: [Int32] = []
        for (i, prompt) in cfg.prompts.enumerated() {
            let full = tokenizer.encode(prompt).map { Int32($0) }
            out["untruncated_ids.\(i)"] = Tensor(int32: full, shape: [full.count])
            var row = Array(full.prefix(cfg.maxLength))
            if full.count > cfg.maxLength { row[cfg.maxLength - 1] = Int32(tokenizer.eosTokenId) }
            openClip += row + [Int32](repeating: 0, count: cfg.maxLength - row.count)
        }
        out["open_clip_ids"] = Tensor(int32: openClip, shape: [cfg.prompts.count, cfg.maxLength])
        return out
    }

    /// `SparseStructureFlowModel(x, t, cond)`: `v`, plus the optional `dbg_t_emb` and
    /// `dbg_block<i>_out` intermediates.
    static func sparseStructureFlow(_ f: Fixture) throws -> [String: any FixtureValue] {
        let model = try SparseStructureFlowModel(try f.config(SparseStructureFlowModel.Config.self))
        try model.load(f.params, source: f.url.path)
        let t = try f.input("t")
        var out: [String: any FixtureValue] = [:]
        try withNoGrad {
            out["v"] = model(
                try f.input("x"), t: t, cond: try f.input("cond"),
                blockOutputs: { i, h in out["dbg_block\(i)_out"] = h })
            out["dbg_t_emb"] = model.tEmbedder(t)
        }
        return out
    }

    /// `SparseStructureEncoder(x, sample_posterior=False, return_raw=True)`: `mean`, `logvar`.
    static func sparseStructureEncoder(_ f: Fixture) throws -> [String: any FixtureValue] {
        let model = try SparseStructureEncoder(try f.config(SparseStructureEncoder.Config.self))
        try model.load(f.params, source: f.url.path)
        let x = try f.input("x")
        let (mean, logvar) = withNoGrad { model(x) }
        return ["mean": mean, "logvar": logvar]
    }

    /// `SparseStructureDecoder(z)`: `logits` and the occupied `coords` (b, x, y, z).
    static func sparseStructureDecoder(_ f: Fixture) throws -> [String: any FixtureValue] {
        let model = try SparseStructureDecoder(try f.config(SparseStructureDecoder.Config.self))
        try model.load(f.params, source: f.url.path)
        let z = try f.input("z")
        let logits = withNoGrad { model(z) }
        return ["logits": logits, "coords": SparseStructureDecoder.occupiedCoordinates(logits)]
    }
}
