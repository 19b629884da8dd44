// Dense conv3d benchmarks (the TRELLIS SS VAE shape: 64 -> 64 channels, 3x3x3, padding 1),
// compared with PyTorch 2.15 CPU fp32 from ../shared/perf/baselines.md.
import LatticeTensor

enum ConvBench {
    /// conv3d forward time and extra memory for one cubic volume of side `side`.
    static func conv3dCase(side: Int, baselineMs: Double) -> [BenchResult] {
        var gen = RandomGenerator(seed: 11)
        let x = Tensor.randn([1, 64, side, side, side], generator: &gen)  // [N, C, D, H, W]
        let w = Tensor.randn([64, 64, 3, 3, 3], generator: &gen)  // [O, C, kd, kh, kw]
        let b = Tensor.randn([64], generator: &gen)
        var extra = 0
        let seconds = withNoGrad {
            extra = Timing.peakExtraBytes {
                _ = conv3d(x, weight: w, bias: b, stride: 1, padding: 1)
            }
            return Timing.median(warmup: 1, repeats: 5) {
                _ = conv3d(x, weight: w, bias: b, stride: 1, padding: 1)
            }
        }
        let flops = 2.0 * 64 * 64 * 27 * Double(side * side * side)
        let name = "conv3d-64x64-k3-\(side)^3"
        return [
            BenchResult(
                name: name, value: seconds * 1e3, unit: "ms",
                baseline: "PyTorch 2.15 CPU fp32 (baselines.md)", baselineValue: baselineMs,
                notes: String(format: "%.1f GFLOPS", flops / seconds / 1e9)),
            BenchResult(
                name: name + "-extra-memory", value: Double(extra) / 1e6, unit: "MB",
                notes: "peak tensor storage above inputs, output included"),
        ]
    }

    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "conv3d-64x64-k3-16^3", summary: "dense conv3d 64->64, k3, pad 1, 16^3 volume",
            run: { conv3dCase(side: 16, baselineMs: 10.4) }),
        Benchmark(
            name: "conv3d-64x64-k3-32^3", summary: "dense conv3d 64->64, k3, pad 1, 32^3 volume",
            run: { conv3dCase(side: 32, baselineMs: 31) }),
    ]
}
