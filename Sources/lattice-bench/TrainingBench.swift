// Training-step throughput of the flow trainers (forward + backward + AdamW + EMA through
// `Trainer.trainStep`, fp32): the SLat flow at the embedded-default size and at a medium size,
// and the dense SS flow at a medium size (compared with upstream PyTorch CPU in BENCHMARKS.md).
import Foundation
import LatticeModels
import LatticeNN
import LatticeSparse
import LatticeTensor
import LatticeTraining

enum TrainingBench {
    /// Steps timed after one warm-up step (`$LATTICE_BENCH_TRAIN_REPEATS`, default 3).
    static var repeats: Int {
        ProcessInfo.processInfo.environment["LATTICE_BENCH_TRAIN_REPEATS"].flatMap { Int($0) }
            ?? 3
    }

    static func options(batch: Int) -> TrainerOptions {
        var o = TrainerOptions(maxSteps: 1_000_000)
        o.batchSize = batch
        o.learningRate = 1e-4
        o.emaRates = [0.9999]
        o.gradClip = .adaptive(maxNorm: 1, percentile: 95, bufferSize: 1000)
        return o
    }

    /// Median seconds per `trainStep` after one warm-up step.
    static func secondsPerStep(_ trainer: Trainer) throws -> Double {
        var failure: Error?
        let s = Timing.median(warmup: 1, repeats: repeats) {
            do { try trainer.trainStep() } catch { failure = error }
        }
        if let failure { throw failure }
        return s
    }

    /// A SLat flow trainer on `batch` voxel shells of ~`voxels` sites each in a `res`³ grid
    /// (radii differ per item), random latents and `tokens` random condition tokens.
    static func slatFlow(
        name: String, json: String, batch: Int, voxels: Double, tokens: Int
    ) throws -> [BenchResult] {
        let config = try JSONDecoder().decode(SLatFlowModel.Config.self, from: Data(json.utf8))
        let model = try SLatFlowModel(config)
        var gen = RandomGenerator(seed: 41)
        SLatFlowMatchingTrainer.initialize(model, generator: &gen)
        let res = config.resolution
        let items: [SLatFlowMatchingTrainer.LatentItem] = (0..<batch).map { i in
            // A 2-voxel-thick shell has ~8πr² sites.
            let r = Swift.min(
                (voxels / (8 * Double.pi)).squareRoot() * (1 + 0.05 * Double(i)),
                Double(res) / 2 - 2)
            let flat = FlowBench.shell(res: res, radius: r, thickness: 2)  // [n, 4] (0,x,y,z)
            let coords = stride(from: 0, to: flat.count, by: 4).map {
                SIMD3(flat[$0 + 1], flat[$0 + 2], flat[$0 + 3])
            }
            return (coords, gen.normal(count: coords.count * config.inChannels))
        }
        let cond = Tensor.randn([batch, tokens, config.condChannels], generator: &gen)  // [B, L, C]
        let objective = SLatFlowMatchingTrainer(
            denoiser: model, datasetCount: batch, latents: { items[$0] },
            condition: { ids in Tensor.stack(ids.map { cond.select(0, $0) }, axis: 0) })
        let trainer = try Trainer(objective: objective, options: options(batch: batch))
        let s = try secondsPerStep(trainer)
        let n = items.map(\.coords.count).reduce(0, +)
        let params = model.namedParameters().map { $0.1.value.count }.reduce(0, +)
        return [
            BenchResult(
                name: name, value: 1 / s, unit: "steps/s",
                notes: String(
                    format: "%.2f s/step; batch %d, %d voxels in all at %d³, cond [%d, %d, %d], "
                        + "%.1fM params, median of %d", s, batch, n, res, batch, tokens,
                    config.condChannels, Double(params) / 1e6, repeats))
        ]
    }

    /// The embedded-default SLat flow: 32³, 128 channels, 4 blocks, batch 4 x ~2k voxels.
    static let tinySLat = """
        {"resolution": 32, "in_channels": 8, "out_channels": 8, "model_channels": 128,
         "cond_channels": 128, "num_blocks": 4, "num_heads": 2, "mlp_ratio": 4, "patch_size": 2,
         "num_io_res_blocks": 2, "io_block_channels": [64], "pe_mode": "ape",
         "qk_rms_norm": true, "use_fp16": false}
        """

    /// A medium SLat flow: 64³, 512 channels, 6 blocks, batch 2 x ~5k voxels.
    static let mediumSLat = """
        {"resolution": 64, "in_channels": 8, "out_channels": 8, "model_channels": 512,
         "cond_channels": 512, "num_blocks": 6, "num_heads": 8, "mlp_ratio": 4, "patch_size": 2,
         "num_io_res_blocks": 2, "io_block_channels": [64], "pe_mode": "ape",
         "qk_rms_norm": true, "use_fp16": false}
        """

    /// The dense SS flow at a medium size: 16³ latents (4096 tokens), 256 channels, 4 blocks,
    /// batch 2, cond [2, 257, 256]. The PyTorch twin in BENCHMARKS.md uses the same config.
    static let mediumSS = """
        {"resolution": 16, "in_channels": 8, "out_channels": 8, "model_channels": 256,
         "cond_channels": 256, "num_blocks": 4, "num_heads": 4, "mlp_ratio": 4,
         "patch_size": 1, "pe_mode": "ape", "qk_rms_norm": true, "use_fp16": false}
        """

    static func ssFlow() throws -> [BenchResult] {
        let config = try JSONDecoder().decode(
            SparseStructureFlowModel.Config.self, from: Data(mediumSS.utf8))
        let model = try SparseStructureFlowModel(config)
        var gen = RandomGenerator(seed: 42)
        ImageConditionedFlowMatchingCFGTrainer.initialize(model, generator: &gen)
        let batch = 2
        let r = config.resolution
        let x0 = Tensor.randn([batch, 8, r, r, r], generator: &gen)  // [B, C, r, r, r]
        let cond = Tensor.randn([batch, 257, config.condChannels], generator: &gen)  // [B, L, C]
        let objective = ImageConditionedFlowMatchingCFGTrainer(
            denoiser: model, datasetCount: batch,
            latents: { ids in Tensor.stack(ids.map { x0.select(0, $0) }, axis: 0) },
            condition: { ids in Tensor.stack(ids.map { cond.select(0, $0) }, axis: 0) })
        let trainer = try Trainer(objective: objective, options: options(batch: batch))
        let s = try secondsPerStep(trainer)
        let params = model.namedParameters().map { $0.1.value.count }.reduce(0, +)
        return [
            BenchResult(
                name: "train-ss-flow-medium", value: 1 / s, unit: "steps/s",
                notes: String(
                    format: "%.2f s/step; batch 2, 4096 tokens, 256 ch, 4 blocks, cond [2, 257, "
                        + "256], %.1fM params, median of %d", s, Double(params) / 1e6, repeats))
        ]
    }

    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "train-slat-flow-tiny",
            summary: "SLat flow training step (fwd+bwd+AdamW), embedded default: 32³, 128 ch, "
                + "4 blocks, batch 4 x ~2k voxels",
            run: {
                try slatFlow(
                    name: "train-slat-flow-tiny", json: tinySLat, batch: 4, voxels: 2000,
                    tokens: 64)
            }),
        Benchmark(
            name: "train-slat-flow-medium",
            summary: "SLat flow training step, 64³, 512 ch, 6 blocks, batch 2 x ~5k voxels, "
                + "cond 257 tokens",
            run: {
                try slatFlow(
                    name: "train-slat-flow-medium", json: mediumSLat, batch: 2, voxels: 5000,
                    tokens: 257)
            }),
        Benchmark(
            name: "train-ss-flow-medium",
            summary: "SS flow training step, 16³ (4096 tokens), 256 ch, 4 blocks, batch 2",
            run: { try ssFlow() }),
    ]
}
