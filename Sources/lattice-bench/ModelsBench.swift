// Whole-model forward benchmarks of the conditioners at real size with random weights (DINOv2
// ViT-L/14-reg at 518², CLIP ViT-L/14 text tower), against the upstream PyTorch CPU timings in
// ../shared/perf/upstream-trellis-cpu.md.
import LatticeModels
import LatticeTensor

enum ModelsBench {
    /// Overwrites every parameter with N(0, 0.02) so no path is trivially zero.
    static func randomize(_ model: Module, seed: UInt64) {
        var gen = RandomGenerator(seed: seed)
        for (_, p) in model.namedParameters() {
            p.value = Tensor.randn(p.shape, generator: &gen) * 0.02
        }
    }

    static func dinov2(repeats: Int) throws -> [BenchResult] {
        let model = try DinoVisionTransformer(.vitl14Reg)
        randomize(model, seed: 1)
        var gen = RandomGenerator(seed: 2)
        let x = Tensor.randn([1, 3, 518, 518], generator: &gen)  // [B, 3, H, W]
        var extra = 0
        let seconds = try withNoGrad {
            var failure: Error?
            extra = Timing.peakExtraBytes {
                do { _ = try model.forwardFeatures(x) } catch { failure = error }
            }
            if let failure { throw failure }
            return Timing.median(warmup: 0, repeats: repeats) { _ = try? model.forwardFeatures(x) }
        }
        let name = "models-dinov2-vitl14-reg-518"
        return [
            BenchResult(
                name: name, value: seconds * 1e3, unit: "ms",
                baseline: "upstream PyTorch 2.15 CPU fp32 (upstream-trellis-cpu.md)",
                baselineValue: 5663,
                notes: String(format: "%.0f GFLOP/s (1017 GFLOP)", 1017 / seconds)),
            BenchResult(
                name: name + "-extra-memory", value: Double(extra) / 1e6, unit: "MB",
                notes: "peak tensor storage above weights and input (upstream reports 1868 MB RSS "
                    + "with weights: not comparable)"),
        ]
    }

    static func clipText(repeats: Int) throws -> [BenchResult] {
        let config = CLIPTextConfig.clipVitLargePatch14
        let model = try CLIPTextModel(config)
        randomize(model, seed: 3)
        var ids = [Int32](repeating: Int32(config.vocabSize - 1), count: 77)
        for i in 0..<10 { ids[i] = Int32(100 + i * 37) }
        let input = Tensor(int32: ids, shape: [1, 77])  // [B, L]
        let seconds = try withNoGrad {
            _ = try model(input)
            return Timing.median(warmup: 1, repeats: repeats) { _ = try? model(input) }
        }
        return [
            BenchResult(
                name: "models-clip-text-l14-77", value: seconds * 1e3, unit: "ms",
                baseline: "upstream transformers CPU fp32 (upstream-trellis-cpu.md)",
                baselineValue: 129,
                notes: String(format: "%.0f GFLOP/s (13.3 GFLOP)", 13.3 / seconds))
        ]
    }

    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "models-dinov2-vitl14-reg-518",
            summary:
                "DINOv2 ViT-L/14 + 4 registers forward_features, [1,3,518,518], random weights",
            run: { try dinov2(repeats: 3) }),
        Benchmark(
            name: "models-clip-text-l14-77",
            summary: "CLIP ViT-L/14 text tower forward, input_ids [1,77], random weights",
            run: { try clipText(repeats: 9) }),
    ]
}
