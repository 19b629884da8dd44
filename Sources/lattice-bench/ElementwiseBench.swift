// Elementwise and row-kernel benchmarks: GELU (tanh) over 16M floats, LayerNorm 4096×1024 and
// softmax 4096×4096, against the PyTorch numbers in ../shared/perf/baselines.md.
import LatticeTensor

enum ElementwiseBench {
    static let benchmarks: [Benchmark] = [
        Benchmark(
            name: "gelu-tanh-16M", summary: "GELU (tanh approximation) over 16M floats",
            run: { geluTanh() }),
        Benchmark(
            name: "layernorm-4096x1024", summary: "LayerNorm over 4096 rows of 1024 with affine",
            run: { layerNorm4096() }),
        Benchmark(
            name: "softmax-4096x4096", summary: "row softmax over 4096×4096", run: { softmax4096() }
        ),
    ]

    private static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var g = RandomGenerator(seed: seed)
        return Tensor.rand(shape, low: -4, high: 4, generator: &g)
    }

    static func geluTanh() -> [BenchResult] {
        let n = 16 << 20
        let x = random([n], seed: 1)  // [16M]
        let out = Tensor(empty: [n])  // [16M], preallocated as PyTorch's out= measurement
        let pre = Timing.median(warmup: 2, repeats: 15) {
            ElementwiseKernels.unary(.geluTanh, x, into: out)
        }
        let alloc = Timing.median(warmup: 1, repeats: 9) {
            _ = withNoGrad { x.gelu(approximate: .tanh) }
        }
        return [
            BenchResult(
                name: "gelu-tanh-16M", value: pre * 1e3, unit: "ms",
                baseline: "PyTorch 2.15, preallocated output (baselines.md)", baselineValue: 14.1,
                notes: "threads \(Parallel.threadCount); into a preallocated output"),
            BenchResult(
                name: "gelu-tanh-16M-alloc", value: alloc * 1e3, unit: "ms",
                baseline: "PyTorch 2.15, allocating (baselines.md)", baselineValue: 33,
                notes:
                    "x.gelu(approximate: .tanh); allocates its 64 MB output (reused from the buffer cache)"
            ),
        ]
    }

    static func layerNorm4096() -> [BenchResult] {
        let x = random([4096, 1024], seed: 2)  // [4096, 1024]
        let w = random([1024], seed: 3)  // [1024]
        let b = random([1024], seed: 4)  // [1024]
        let api = Timing.median(warmup: 3, repeats: 21) {
            _ = withNoGrad { LatticeTensor.layerNorm(x, weight: w, bias: b, eps: 1e-5) }
        }
        let y = Tensor(empty: [4096, 1024])  // [4096, 1024]
        let mean = Tensor(empty: [4096])  // [4096]
        let rstd = Tensor(empty: [4096])  // [4096]
        let pre = Timing.median(warmup: 3, repeats: 21) {
            NormKernels.layerNorm(x, weight: w, bias: b, eps: 1e-5, y: y, mean: mean, rstd: rstd)
        }
        return [
            BenchResult(
                name: "layernorm-4096x1024", value: api * 1e3, unit: "ms",
                baseline: "PyTorch 2.15 (baselines.md)", baselineValue: 0.86,
                notes: "threads \(Parallel.threadCount); layerNorm(x, weight:, bias:, eps:)"),
            BenchResult(
                name: "layernorm-4096x1024-prealloc", value: pre * 1e3, unit: "ms",
                baseline: "PyTorch 2.15 (baselines.md)", baselineValue: 0.86,
                notes: "NormKernels.layerNorm into preallocated y/mean/rstd"),
        ]
    }

    static func softmax4096() -> [BenchResult] {
        let x = random([4096, 4096], seed: 5)  // [4096, 4096]
        let t = Timing.median(warmup: 1, repeats: 9) {
            _ = withNoGrad { x.softmax(axis: -1) }
        }
        return [
            BenchResult(
                name: "softmax-4096x4096", value: t * 1e3, unit: "ms",
                notes: "threads \(Parallel.threadCount); allocating a 64 MB output per call")
        ]
    }
}
