// Checkpoint layouts the model ports accept besides the fixtures' own keys (sanitize paths).
import Foundation
import Testing

@testable import LatticeFixtures
@testable import LatticeModels

@Suite("Checkpoint layouts")
struct CheckpointLayoutTests {
    static func fixture(_ name: String) throws -> Fixture {
        try Fixture(
            url: ModelFixtureTests.fixtures.appendingPathComponent("\(name).safetensors"))
    }

    /// The Hugging Face DINOv2-with-registers layout (split q/k/v, renamed modules) must load
    /// into the same model and give bit-identical outputs: only names and row blocks move.
    @Test func dinov2HuggingFaceLayout() throws {
        let file = try Self.fixture("dinov2__vitreg_square")
        let cfg = try file.config(DinoVisionTransformer.Config.self)
        let hub = file.params
        var hf: [String: Tensor] = [:]
        for (key, value) in hub {
            var k = key
            for (from, to) in [
                ("cls_token", "embeddings.cls_token"), ("mask_token", "embeddings.mask_token"),
                ("pos_embed", "embeddings.position_embeddings"),
                ("register_tokens", "embeddings.register_tokens"),
                ("patch_embed.proj.", "embeddings.patch_embeddings.projection."),
                ("norm.", "layernorm."),
            ] where k.hasPrefix(from) {
                k = to + k.dropFirst(from.count)
            }
            if k.hasPrefix("blocks.") {
                let parts = k.split(separator: ".", maxSplits: 2)
                var tail = String(parts[2])
                tail = tail.replacingOccurrences(of: "attn.proj.", with: "attention.output.dense.")
                tail = tail.replacingOccurrences(of: "ls1.gamma", with: "layer_scale1.lambda1")
                tail = tail.replacingOccurrences(of: "ls2.gamma", with: "layer_scale2.lambda1")
                if tail.hasPrefix("attn.qkv.") {
                    let suffix = tail.dropFirst("attn.qkv.".count)
                    let c = value.shape[0] / 3
                    for (j, name) in ["query", "key", "value"].enumerated() {
                        hf["encoder.layer.\(parts[1]).attention.attention.\(name).\(suffix)"] =
                            value.slice(0, j * c, (j + 1) * c).contiguous()
                    }
                    continue
                }
                k = "encoder.layer.\(parts[1]).\(tail)"
            }
            hf[k] = value
        }
        #expect(hf.keys.contains("encoder.layer.1.attention.attention.value.bias"))
        let a = try DinoVisionTransformer(cfg)
        try a.load(hub)
        let b = try DinoVisionTransformer(cfg)
        try b.load(hf, source: "HF layout")
        let x = try file.input("x")
        let ya = try withNoGrad { try a.forwardFeatures(x).xPrenorm.toFloats() }
        let yb = try withNoGrad { try b.forwardFeatures(x).xPrenorm.toFloats() }
        #expect(ya == yb)
    }

    /// A full CLIPModel checkpoint (vision tower, projections, position_ids) and the unprefixed
    /// transformers-5 layout both load into CLIPTextModel.
    @Test func clipCheckpointVariants() throws {
        let file = try Self.fixture("clip__text_model_small")
        let cfg = try file.config(CLIPTextConfig.self)
        var full = file.params
        full["vision_model.post_layernorm.weight"] = Tensor(zeros: [4])
        full["text_projection.weight"] = Tensor(zeros: [4, 4])
        full["logit_scale"] = Tensor(scalar: 1)
        full["text_model.embeddings.position_ids"] = Tensor(int64: [0, 1], shape: [1, 2])
        try CLIPTextModel(cfg).load(full, source: "full CLIPModel")
        var unprefixed: [String: Tensor] = [:]
        for (k, v) in file.params {
            unprefixed[String(k.dropFirst("text_model.".count))] = v
        }
        try CLIPTextModel(cfg).load(unprefixed, source: "transformers 5 state_dict")
        // Strictness survives sanitize: an unknown text key is still an error.
        var extra = file.params
        extra["text_model.encoder.layers.9.mlp.fc1.weight"] = Tensor(zeros: [1])
        #expect(throws: LatticeError.self) { try CLIPTextModel(cfg).load(extra) }
    }

    /// With the legacy hub config (eos_token_id 2) transformers pools at argmax(input_ids)
    /// (first maximum); the fixture ids put the largest id (EOS 999) first at the EOS slot, so
    /// both rules must pick the same rows.
    @Test func clipLegacyEosPoolsAtArgmax() throws {
        let file = try Self.fixture("clip__text_model_small")
        var cfg = try file.config(CLIPTextConfig.self)
        let ids = try file.input("input_ids")
        let model = try CLIPTextModel(cfg)
        try model.load(file.params)
        let reference = try withNoGrad { try model(ids).poolerOutput.toFloats() }
        cfg.eosTokenId = 2
        let legacy = try CLIPTextModel(cfg)
        try legacy.load(file.params)
        #expect(try withNoGrad { try legacy(ids).poolerOutput.toFloats() } == reference)
    }
}
