// SLat flow trainer: overfitting lowers the CFM loss, interrupted+resumed runs equal
// uninterrupted ones bit for bit, the t sampler and condition dropout follow their laws, and
// extra modules (a condition encoder) are trained jointly.
import Foundation
import LatticeModels
import LatticeNN
import LatticeSparse
import LatticeTensor
import Testing

@testable import LatticeTraining

/// A tiny SLat flow (16³ grid, 32 channels, one block) on four fixed random voxel sets.
enum TinySLat {
    static let itemCount = 4
    static let condTokens = 4
    static let condChannels = 16

    /// Four items of 150-250 distinct random sites with smooth deterministic latents (mean
    /// square ~1, like normalised SLat latents).
    static let data: [SLatFlowMatchingTrainer.LatentItem] = {
        var g = RandomGenerator(seed: 77)
        return (0..<itemCount).map { item in
            let target = 150 + 30 * item
            var seen = Set<Int>()
            while seen.count < target {
                for u in g.uniform(count: target - seen.count) { seen.insert(Int(u * 4096)) }
            }
            let sites = seen.sorted()
            let coords = sites.map {
                SIMD3<Int32>(Int32($0 / 256), Int32($0 / 16 % 16), Int32($0 % 16))
            }
            var feats: [Float] = []
            for p in coords {
                let (x, y, z) = (Float(p.x), Float(p.y), Float(p.z))
                for c in 0..<8 {
                    let fc = Float(c)
                    feats.append(
                        1.4 * Foundation.sin(0.4 * x + 0.7 * fc)
                            * Foundation.cos(0.3 * y - 0.2 * z + fc + Float(item)))
                }
            }
            return (coords, feats)
        }
    }()

    /// Random condition tokens per item: [items, L, C].
    static let conds: Tensor = {
        var g = RandomGenerator(seed: 78)
        return Tensor.randn([itemCount, condTokens, condChannels], generator: &g)
    }()

    static func condition(_ items: [Int]) -> Tensor {
        Tensor.stack(items.map { conds.select(0, $0) }, axis: 0)  // [B, L, C]
    }

    static let modelArgs = """
        {"resolution": 16, "in_channels": 8, "out_channels": 8, "model_channels": 32,
         "cond_channels": 16, "num_blocks": 1, "num_heads": 2, "mlp_ratio": 2, "patch_size": 2,
         "io_block_channels": [16], "num_io_res_blocks": 2, "pe_mode": "ape",
         "qk_rms_norm": true, "use_fp16": false}
        """

    static func config(steps: Int, split: Int = 1, lr: Double, extra: String = "") -> String {
        """
        {"models": {"denoiser": {"name": "SLatFlowModel", "args": \(modelArgs)}},
         "dataset": {"name": "ImageConditionedSLat", "args": {}},
         "trainer": {"name": "ImageConditionedSparseFlowMatchingCFGTrainer", "args": {
              "max_steps": \(steps), "batch_size_per_gpu": 4, "batch_split": \(split),
              "optimizer": {"name": "AdamW", "args": {"lr": \(lr), "weight_decay": 0.0}},
              "ema_rate": [0.99], "fp16_mode": "inflat_all", "i_log": 1000, "i_save": 1000,
              "t_schedule": {"name": "logitNormal", "args": {"mean": 1.0, "std": 1.0}},
              "sigma_min": 1e-5, "p_uncond": 0.1, "seed": 5\(extra)}}}
        """
    }

    static func trainer(
        _ json: String, extraModels: [(name: String, module: Module)] = [],
        condition: @escaping ([Int]) throws -> Tensor = TinySLat.condition
    ) throws -> Trainer {
        let config = try TrainingConfig.parse(Data(json.utf8), source: "slat-flow test")
        return try TrainingSession.make(
            config,
            slatFlowData: (count: itemCount, latents: { data[$0] }, condition: condition),
            extraModels: extraModels)
    }

    static func objective(_ t: Trainer) throws -> SLatFlowMatchingTrainer {
        try #require(t.objective as? SLatFlowMatchingTrainer)
    }
}

@Suite struct SLatFlowTrainerTests {
    @Test func lossDecreasesWhenOverfitting() throws {
        // Zero-initialised output layer: the first predictions are 0, so the loss starts at
        // mean(v²) ≈ |ε|² + |x0|² ≈ 2. Four fixed latents in one batch are memorised quickly,
        // which removes the x0 part of v; 5-step means damp the per-step t/noise variance. The
        // run is seeded, so this is deterministic, not a flaky statistical check.
        let trainer = try TinySLat.trainer(TinySLat.config(steps: 30, lr: 1e-2))
        try trainer.run()
        let h = trainer.history
        #expect(h.count == 30 && h.allSatisfy { $0.loss.isFinite && $0.terms["mse"] != nil })
        let first = Tiny.meanLoss(h[0..<5])
        let last = Tiny.meanLoss(h[25..<30])
        #expect(last < 0.8 * first, "cfm mse: first \(first), last \(last): \(h.map(\.loss))")
    }

    @Test func resumeIsBitExact() throws {
        // Accumulation (split 2), adaptive clipping with a 3-entry buffer, EMA and warmup all
        // carry state across the interruption at step 2.
        let extra = """
            , "grad_clip": {"name": "AdaptiveGradClipper", "args": {"max_norm": 1.0,
              "clip_percentile": 95, "buffer_size": 3}},
              "lr_scheduler": {"name": "LinearWarmupLRScheduler", "args": {"warmup_steps": 2}}
            """
        let json = TinySLat.config(steps: 5, split: 2, lr: 3e-3, extra: extra)
        let full = try TinySLat.trainer(json)
        try full.run()
        let dir = try Tiny.tempDir("slat-flow-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try TinySLat.trainer(json)
        try first.run(outputDirectory: dir, stopAt: 2)
        let resumed = try TinySLat.trainer(json)
        let url = try resumed.resume(from: dir)
        #expect(url?.lastPathComponent == "step0000002.safetensors")
        #expect(resumed.step == 2 && resumed.dataPosition == 8)
        try resumed.run(outputDirectory: dir)
        #expect(full.history.map(\.loss.bitPattern) == resumed.history.map(\.loss.bitPattern))
        #expect(
            full.history.map(\.gradNorm.bitPattern) == resumed.history.map(\.gradNorm.bitPattern))
        let ta = full.checkpointTensors()
        let tb = resumed.checkpointTensors()
        #expect(Set(ta.keys) == Set(tb.keys))
        for (k, v) in ta where v.dtype == .float32 {
            let w = try #require(tb[k])
            #expect(v.toFloats().map(\.bitPattern) == w.toFloats().map(\.bitPattern), "\(k)")
        }
    }

    @Test func timeSamplerMatchesLogitNormal() throws {
        // E[sigmoid(Z)], Z ~ N(1, 1), by the trapezoid rule on [-8, 10] (step 1e-3: error far
        // below 1e-6). The sample std of sigmoid(Z) is ~0.18, so the mean of n = 40000 draws
        // has a standard error of ~0.0009; 0.005 is > 5 standard errors.
        let objective = try TinySLat.objective(
            try TinySLat.trainer(TinySLat.config(steps: 1, lr: 1e-3)))
        var g = RandomGenerator(seed: 123)
        let n = 40000
        let t = objective.sampleT(n, generator: &g)
        #expect(t.allSatisfy { $0 > 0 && $0 < 1 })
        let mean = t.reduce(0.0) { $0 + Double($1) } / Double(n)
        var expected = 0.0
        let h = 1e-3
        for i in 0...18000 {
            let z = -8 + Double(i) * h
            let w = (i == 0 || i == 18000 ? 0.5 : 1) * h
            let density = Foundation.exp(-0.5 * (z - 1) * (z - 1)) / (2 * Double.pi).squareRoot()
            expected += w * density / (1 + Foundation.exp(-z))
        }
        #expect(abs(mean - expected) < 0.005, "mean t \(mean), E[sigmoid(N(1,1))] \(expected)")
        // Biased toward noise: P(t > 0.5) = P(Z > 0) = Φ(1) ≈ 0.841 (±0.01: > 5 standard
        // errors of a proportion near 0.84 with n = 40000, sd ~0.0018).
        let above = Double(t.filter { $0 > 0.5 }.count) / Double(n)
        #expect(abs(above - 0.8413) < 0.01, "P(t > 0.5) = \(above)")
    }

    @Test func conditionDropoutRate() throws {
        // The trainer draws its drop mask as the uniforms after noise and t, in each micro-batch.
        // Checked end to end: with p_uncond = 1 every condition is dropped, so the loss equals a
        // p_uncond = 0 run fed all-zero conditions (same generator, same draws) bit for bit.
        let zeros: ([Int]) throws -> Tensor = { items in
            Tensor(zeros: [items.count, TinySLat.condTokens, TinySLat.condChannels])
        }
        let allDropped = try TinySLat.trainer(
            TinySLat.config(steps: 1, lr: 1e-3).replacingOccurrences(
                of: "\"p_uncond\": 0.1", with: "\"p_uncond\": 1.0"))
        let zeroCond = try TinySLat.trainer(
            TinySLat.config(steps: 1, lr: 1e-3).replacingOccurrences(
                of: "\"p_uncond\": 0.1", with: "\"p_uncond\": 0.0"), condition: zeros)
        let kept = try TinySLat.trainer(
            TinySLat.config(steps: 1, lr: 1e-3).replacingOccurrences(
                of: "\"p_uncond\": 0.1", with: "\"p_uncond\": 0.0"))
        // Two steps so the output layer is no longer zero and the condition matters.
        for t in [allDropped, zeroCond, kept] { try t.trainStep() }
        let a = try allDropped.trainStep().loss
        let b = try zeroCond.trainStep().loss
        let c = try kept.trainStep().loss
        #expect(a.bitPattern == b.bitPattern)
        #expect(a != c, "the condition should matter after one update")

        // The trainer's drop rate: over 20000 items at p = 0.1 the count is Binomial(20000, 0.1)
        // with sd ≈ 42; ±250 is ~6 sd (the seed is fixed, so this is deterministic anyway).
        let objective = try TinySLat.objective(
            try TinySLat.trainer(TinySLat.config(steps: 1, lr: 1e-3)))
        var g = RandomGenerator(seed: 9)
        let mask = objective.sampleConditionDrop(20000, generator: &g)
        let count = mask.filter { $0 }.count
        #expect(abs(count - 2000) < 250, "dropped \(count) of 20000 at p 0.1")

        // Dropped rows become exactly zero; kept rows keep their exact values.
        let cond = Tensor.randn([200, 1, 2], generator: &g)  // [B, 1, 2]
        let drop = Array(mask.prefix(200))
        let dropped = droppingConditions(cond, drop).toFloats()
        let original = cond.toFloats()
        var wrong = 0
        for i in 0..<200 {
            let row = [dropped[2 * i], dropped[2 * i + 1]]
            if row != (drop[i] ? [0, 0] : [original[2 * i], original[2 * i + 1]]) { wrong += 1 }
        }
        #expect(wrong == 0 && drop.contains(true))
    }

    @Test func extraModelsAreTrainedJointly() throws {
        // A linear "encoder" maps fixed raw tokens to the condition; its weights are in the
        // trainer's parameters and checkpoint, get gradients through the cross-attention
        // (from step 2: the zero-initialised output layer blocks them at step 1), and change.
        let encoder = Linear(TinySLat.condChannels, TinySLat.condChannels)
        var g = RandomGenerator(seed: 3)
        encoder.resetParameters(generator: &g)
        let before = encoder.weight.value.toFloats()
        let trainer = try TinySLat.trainer(
            TinySLat.config(steps: 3, lr: 1e-2), extraModels: [("encoder", encoder)],
            condition: { items in encoder(TinySLat.condition(items)) })
        #expect(trainer.namedParameters.contains { $0.0 == "encoder.weight" })
        try trainer.run()
        #expect(trainer.checkpointTensors()["model.encoder.weight"] != nil)
        let after = encoder.weight.value.toFloats()
        let change = zip(before, after).map { abs($0 - $1) }.max() ?? 0
        #expect(change > 1e-4, "encoder weights moved by at most \(change)")

        // The same option on the SS flow trainer (tiny 4³ model, cond width 8).
        let json = """
            {"resolution": 4, "in_channels": 2, "out_channels": 2, "model_channels": 16,
             "cond_channels": 8, "num_blocks": 1, "num_heads": 2, "mlp_ratio": 2,
             "patch_size": 1, "pe_mode": "ape", "qk_rms_norm": true}
            """
        let model = try SparseStructureFlowModel(
            try JSONDecoder().decode(SparseStructureFlowModel.Config.self, from: Data(json.utf8)))
        ImageConditionedFlowMatchingCFGTrainer.initialize(model, generator: &g)
        let ssEncoder = Linear(8, 8)
        ssEncoder.resetParameters(generator: &g)
        let ssBefore = ssEncoder.weight.value.toFloats()
        let latents = Tensor.randn([2, 2, 4, 4, 4], generator: &g)  // [N, C, r, r, r]
        let raw = Tensor.randn([2, 3, 8], generator: &g)  // [N, L, 8]
        let ssObjective = ImageConditionedFlowMatchingCFGTrainer(
            denoiser: model, datasetCount: 2, extraModels: [("encoder", ssEncoder)],
            latents: { items in Tensor.stack(items.map { latents.select(0, $0) }, axis: 0) },
            condition: { items in
                ssEncoder(Tensor.stack(items.map { raw.select(0, $0) }, axis: 0))  // [B, L, 8]
            })
        var o = TrainerOptions(maxSteps: 3)
        o.batchSize = 2
        o.learningRate = 1e-2
        let ss = try Trainer(objective: ssObjective, options: o)
        try ss.run()
        let ssChange = zip(ssBefore, ssEncoder.weight.value.toFloats()).map { abs($0 - $1) }
        #expect((ssChange.max() ?? 0) > 1e-4, "SS encoder moved by at most \(ssChange.max() ?? 0)")
    }

    @Test func duplicateModelNamesAreRejected() throws {
        let other = Linear(2, 2)
        #expect(throws: LatticeError.self) {
            _ = try TinySLat.trainer(
                TinySLat.config(steps: 1, lr: 1e-3), extraModels: [("denoiser", other)])
        }
    }

    @Test func badItemsAreRejectedByName() throws {
        let config = try TrainingConfig.parse(
            Data(TinySLat.config(steps: 1, lr: 1e-3).utf8), source: "test")
        let trainer = try TrainingSession.make(
            config,
            slatFlowData: (
                count: 4, latents: { _ in ([SIMD3<Int32>(1, 2, 3)], [0, 1, 2]) },
                condition: TinySLat.condition
            ))
        do {
            try trainer.trainStep()
            Issue.record("expected an error")
        } catch let e as LatticeError {
            #expect(e.kind == .shapeMismatch && e.message.contains("[N, 8]"))
        }
    }
}
