// SLatVaeRadianceFieldDecoderTrainer and the decoder-only trainers built from upstream-shaped
// configs: the radiance-field decoder overfits two tiny shapes (16³ voxels, 32-pixel views), an
// interrupted and resumed run equals an uninterrupted one bit for bit, the frozen encoder is
// loaded from `latent_model`, and the mesh decoder trainer is built from its released config's
// shape.
import Foundation
import LatticeModels
import LatticeNN
import LatticeTensor
import Testing

@testable import LatticeTraining

enum TinySLatRF {
    /// A tiny radiance-field decoder (32 channels, 1 block, full attention, rank 4, dim 4) whose
    /// latents are the samples' 6 feature channels, with the released trainer args; `encoder`
    /// adds a frozen 6 -> 6 SLat encoder.
    static func config(
        steps: Int, lr: Double, extraTrainer: String = "", encoder: String? = nil
    ) -> String {
        let trunk = """
            "resolution": 16, "model_channels": 32, "latent_channels": 6, "num_blocks": 1,
            "num_heads": 2, "mlp_ratio": 2, "attn_mode": "full"
            """
        let enc =
            encoder == nil
            ? "" : #""encoder": {"name": "SLatEncoder", "args": {\#(trunk), "in_channels": 6}},"#
        let latentModel = encoder.map { #", "latent_model": "\#($0)""# } ?? ""
        return """
            {"models": {\(enc)
               "decoder": {"name": "ElasticSLatRadianceFieldDecoder", "args": {\(trunk),
                 "representation_config": {"rank": 4, "dim": 4}}}},
             "dataset": {"name": "SLat2Render", "args": {"image_size": 32,
               "max_num_voxels": 32768\(latentModel)}},
             "trainer": {"name": "SLatVaeRadianceFieldDecoderTrainer", "args": {
               "max_steps": \(steps), "batch_size_per_gpu": 2, "batch_split": 1,
               "optimizer": {"name": "AdamW", "args": {"lr": \(lr), "weight_decay": 0.0}},
               "ema_rate": [0.9], "fp16_mode": "inflat_all", "i_log": 1000, "i_save": 1000,
               "loss_type": "l1", "lambda_ssim": 0.2, "lambda_lpips": 0.2, "seed": 11\(extraTrainer)}}}
            """
    }

    static func trainer(_ json: String, data: InMemorySLatSource, base: URL? = nil) throws
        -> Trainer
    {
        let config = try TrainingConfig.parse(Data(json.utf8), source: "test")
        return try TrainingSession.make(config, baseDirectory: base, slatData: data)
    }
}

@Suite struct SLatRadianceFieldTrainerTests {
    @Test func lossDecreasesWhenOverfitting() throws {
        // Two fixed shapes, batch 2, fixed seed: deterministic, not a statistical check. The
        // zeroed out_layer starts every voxel with density 0 (opacity sigmoid(-6) per unit
        // length) and grey colour, so the renders are nearly the background; AdamW at lr 1e-2
        // raises density inside the shapes and colours them. The per-step loss varies with the
        // random view and background, so 5-step means are compared.
        let data = try TinySLatGS.source()
        let trainer = try TinySLatRF.trainer(TinySLatRF.config(steps: 30, lr: 1e-2), data: data)
        try trainer.run()
        // 0.9 fails if training stalls or diverges while leaving room for float-order changes.
        expectLossFalls(trainer.history, steps: 30, factor: 0.9, terms: ["l1", "ssim", "rec"])
        #expect(trainer.objective.models.map(\.name) == ["decoder"])
    }

    @Test func resumeIsBitExact() throws {
        // Adaptive clipping, EMA and warmup carry state across the interruption; the step
        // generator drives the view choice, the background and the per-pixel sample offsets.
        let json = TinySLatRF.config(steps: 5, lr: 1e-3, extraTrainer: TinySLatGS.resumeArgs)
        let data = try TinySLatGS.source()
        _ = try expectBitExactResume(stopAt: 3) { try TinySLatRF.trainer(json, data: data) }
    }

    @Test func frozenEncoderComesFromLatentModel() throws {
        // The encoder's weights are read from `latent_model` (relative to the config's folder)
        // and stay fixed: only the decoder is optimised, and the encoder's output after training
        // equals its output before.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "lattice-slat-rf-enc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let encConfig = try JSONDecoder().decode(
            SLatEncoder.Config.self,
            from: Data(
                #"{"resolution": 16, "model_channels": 32, "latent_channels": 6, "num_blocks": 1, "num_heads": 2, "mlp_ratio": 2, "attn_mode": "full", "in_channels": 6}"#
                    .utf8))
        let encoder = try SLatEncoder(encConfig)
        var g = RandomGenerator(seed: 3)
        encoder.resetParameters(generator: &g)
        let weights = dir.appendingPathComponent("enc.safetensors")
        try Safetensors.write(encoder.stateDict(), to: weights)

        let data = try TinySLatGS.source()
        let trainer = try TinySLatRF.trainer(
            TinySLatRF.config(steps: 2, lr: 1e-2, encoder: "enc.safetensors"), data: data,
            base: dir)
        let objective = try #require(trainer.objective as? SLatVaeRadianceFieldDecoderTrainer)
        let loaded = try #require(objective.encoder)
        let before = try objective.latents([try data.sample(0)]).feats.toFloats()
        let reference = try withNoGrad {
            try encoder(
                try RenderedImageLoss.batch(
                    [try data.sample(0)], resolution: 16,
                    channels: 6, owner: "test")
            ).mean.feats.toFloats()
        }
        #expect(before == reference)
        try trainer.run()
        #expect(try objective.latents([try data.sample(0)]).feats.toFloats() == before)
        #expect(loaded.namedParameters().allSatisfy { $0.1.value.grad == nil })

        // An encoder without weights is an error that names the field.
        #expect {
            try TinySLatRF.trainer(
                TinySLatRF.config(steps: 1, lr: 1e-2, encoder: "missing.bin"), data: data,
                base: dir)
        } throws: { ($0 as? LatticeError)?.message.contains("latent_model") == true }
    }

    @Test func meshDecoderTrainerFromConfig() throws {
        // The released mesh-decoder config's shape (decoder only, features as latents): the
        // session builds SLatVaeMeshDecoderTrainer with the geometry-only weights and its
        // lambda_color, and one step gives a finite loss. 256 channels keep upstream's 32
        // GroupNorm groups valid in the subdivision blocks (C/8 = 32).
        let json = """
            {"models": {"decoder": {"name": "ElasticSLatMeshDecoder", "args": {
               "resolution": 16, "model_channels": 256, "latent_channels": 6, "num_blocks": 1,
               "num_heads": 4, "mlp_ratio": 1, "attn_mode": "full",
               "representation_config": {"use_color": true}}}},
             "dataset": {"name": "Slat2RenderGeo", "args": {"image_size": 32}},
             "trainer": {"name": "SLatVaeMeshDecoderTrainer", "args": {
               "max_steps": 1, "batch_size_per_gpu": 1,
               "optimizer": {"name": "AdamW", "args": {"lr": 1e-4, "weight_decay": 0.0}},
               "lambda_ssim": 0.2, "lambda_lpips": 0.2, "lambda_tsdf": 0.01,
               "lambda_depth": 10.0, "lambda_color": 0.05, "depth_loss_type": "smooth_l1"}}}
            """
        let data = try TinySLatGS.source(count: 1)
        let config = try TrainingConfig.parse(Data(json.utf8), source: "test")
        let trainer = try TrainingSession.make(config, slatData: data)
        let objective = try #require(trainer.objective as? SLatVaeMeshDecoderTrainer)
        #expect(objective.weights.color == 0.05)
        #expect(objective.encoder == nil)
        try trainer.run()
        #expect(trainer.history.count == 1 && trainer.history[0].loss.isFinite)
        // Without samples or a dataset folder the error says what to set.
        #expect {
            try TrainingSession.make(config)
        } throws: { ($0 as? LatticeError)?.message.contains("dataset.args.roots") == true }
    }
}
