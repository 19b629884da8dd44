// Fused attention benchmarks (forward, backward) against PyTorch 2.15 CPU SDPA from baselines.md.
import Foundation
import LatticeTensor

enum AttentionBench {
    static let benchmarks: [Benchmark] = [
        forward(n: 1024, baselineMs: 26.3, baselineMB: 15),
        forward(n: 4096, baselineMs: 446, baselineMB: 55),
        forward(n: 8192, baselineMs: 1810, baselineMB: 43, repeats: 2),
        backward(n: 1024),
        backward(n: 4096, repeats: 2),
    ]

    /// Random q, k, v of shape [1, 16, n, 64].
    private static func inputs(n: Int) -> (Tensor, Tensor, Tensor) {
        var gen = RandomGenerator(seed: 0)
        let shape = [1, 16, n, 64]  // [B, H, N, D]
        return (
            Tensor.randn(shape, generator: &gen), Tensor.randn(shape, generator: &gen),
            Tensor.randn(shape, generator: &gen)
        )
    }

    private static func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    /// Forward FLOPs of attention: QKᵀ and PV, 2 multiply-adds each per (query, key, channel).
    private static func flops(n: Int) -> Double { 4 * 16 * Double(n) * Double(n) * 64 }

    static func forward(n: Int, baselineMs: Double, baselineMB: Double, repeats: Int = 5)
        -> Benchmark
    {
        let name = "sdpa-1x16x\(n)x64"
        return Benchmark(name: name, summary: "fused SDPA forward, 16 heads, D 64, N \(n), fp32") {
            let (q, k, v) = inputs(n: n)
            var cpu: [Double] = []
            let seconds = Timing.median(warmup: 1, repeats: repeats) {
                let c0 = clock()
                _ = withNoGrad { scaledDotProductAttention(q, k, v) }
                cpu.append(Double(clock() - c0) / Double(CLOCKS_PER_SEC))
            }
            let extra = Timing.peakExtraBytes {
                _ = withNoGrad { scaledDotProductAttention(q, k, v) }
            }
            let out = Double(16 * n * 64 * 4)
            return [
                BenchResult(
                    name: name, value: seconds * 1e3, unit: "ms",
                    baseline: "PyTorch 2.15 CPU SDPA (baselines.md)", baselineValue: baselineMs),
                BenchResult(
                    name: name + "-throughput", value: flops(n: n) / seconds * 1e-9, unit: "GFLOPS"),
                // Per CPU-second of all threads: what a core sustains while busy, readable on a
                // shared machine where wall time mostly measures the other jobs.
                BenchResult(
                    name: name + "-per-busy-core", value: flops(n: n) / median(cpu) * 1e-9,
                    unit: "GFLOPS"),
                BenchResult(
                    name: name + "-peak-extra", value: Double(extra) / 1e6, unit: "MB",
                    baseline: "PyTorch 2.15 CPU SDPA (baselines.md)", baselineValue: baselineMB,
                    notes:
                        "includes the \(out / 1e6) MB output and the per-row log-sum-exp"),
            ]
        }
    }

    static func backward(n: Int, repeats: Int = 3) -> Benchmark {
        let name = "sdpa-backward-1x16x\(n)x64"
        return Benchmark(
            name: name, summary: "fused SDPA backward (dq, dk, dv), 16 heads, D 64, N \(n)"
        ) {
            let (q, k, v) = inputs(n: n)
            var gen = RandomGenerator(seed: 1)
            let g = Tensor.randn([1, 16, n, 64], generator: &gen)  // [B, H, N, D]
            let (ql, kl, vl) = (q.requiringGrad(), k.requiringGrad(), v.requiringGrad())
            let out = scaledDotProductAttention(ql, kl, vl)
            var cpu: [Double] = []
            let seconds = Timing.median(warmup: 1, repeats: repeats) {
                ql.grad = nil
                kl.grad = nil
                vl.grad = nil
                let c0 = clock()
                out.backward(g)
                cpu.append(Double(clock() - c0) / Double(CLOCKS_PER_SEC))
            }
            // Backward: recompute S (1 product) plus dV, dP, dQ, dK (4 products).
            let work = flops(n: n) * 2.5
            return [
                BenchResult(name: name, value: seconds * 1e3, unit: "ms"),
                BenchResult(
                    name: name + "-throughput", value: work / seconds * 1e-9, unit: "GFLOPS"),
                BenchResult(
                    name: name + "-per-busy-core", value: work / median(cpu) * 1e-9, unit: "GFLOPS"),
            ]
        }
    }
}
