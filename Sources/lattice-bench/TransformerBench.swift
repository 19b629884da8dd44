// Transformer-block benchmark: the workload that dominates TRELLIS's flow models and DINOv2.
import LatticeTensor

/// Pre-LN transformer block forward (d=1024, 16 heads, N=4096, MLP 4x, exact GELU), the
/// shape baselines.md measured PyTorch fp32 on (1.08 s, 171.8 GFLOP).
enum TransformerBench {
    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "transformer-block-d1024-n4096-h16",
            summary: "pre-LN block forward: LN, fused qkv linear, SDPA, proj, LN, MLP 4x (GELU)"
        ) {
            let d = 1024
            let n = 4096
            let heads = 16
            var g = RandomGenerator(seed: 1)
            func weight(_ o: Int, _ i: Int) -> Tensor {
                Tensor.randn([o, i], generator: &g) * (1 / Float(i).squareRoot())
            }
            let x = Tensor.randn([1, n, d], generator: &g)  // [B, N, C]
            let wQKV = weight(3 * d, d)
            let bQKV = Tensor(zeros: [3 * d])
            let wProj = weight(d, d)
            let bProj = Tensor(zeros: [d])
            let w1 = weight(4 * d, d)
            let b1 = Tensor(zeros: [4 * d])
            let w2 = weight(d, 4 * d)
            let b2 = Tensor(zeros: [d])
            let ln1w = Tensor(full: [d], value: 1)
            let ln1b = Tensor(zeros: [d])
            let ln2w = Tensor(full: [d], value: 1)
            let ln2b = Tensor(zeros: [d])
            func block() -> Tensor {
                let h = layerNorm(x, weight: ln1w, bias: ln1b, eps: 1e-6)
                let qkv = linear(h, weight: wQKV, bias: bQKV).reshape([1, n, 3, heads, d / heads])
                let q = qkv.select(2, 0).permute([0, 2, 1, 3])  // [B, H, N, D]
                let k = qkv.select(2, 1).permute([0, 2, 1, 3])
                let v = qkv.select(2, 2).permute([0, 2, 1, 3])
                let a = scaledDotProductAttention(q, k, v).permute([0, 2, 1, 3]).reshape([1, n, d])
                let x1 = x + linear(a, weight: wProj, bias: bProj)
                let h2 = layerNorm(x1, weight: ln2w, bias: ln2b, eps: 1e-6)
                let m = linear(linear(h2, weight: w1, bias: b1).gelu(), weight: w2, bias: b2)
                return x1 + m
            }
            var seconds = 0.0
            let extra = Timing.peakExtraBytes {
                seconds = withNoGrad { Timing.median(warmup: 1, repeats: 3) { _ = block() } }
            }
            let flops = 171.8e9
            return [
                BenchResult(
                    name: "transformer-block-d1024-n4096-h16", value: seconds * 1000, unit: "ms",
                    baseline: "PyTorch 2.15 fp32 (baselines.md)", baselineValue: 1080,
                    notes: String(format: "%.0f GFLOPS", flops / seconds / 1e9)),
                BenchResult(
                    name: "transformer-block-d1024-n4096-h16-peak-extra",
                    value: Double(extra) / 1e6,
                    unit: "MB", baseline: "PyTorch 2.15 (baselines.md)", baselineValue: 307),
            ]
        }
    ]
}
