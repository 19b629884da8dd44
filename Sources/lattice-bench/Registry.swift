// The one list of benchmarks. To add a group: write `enum XBench { static let benchmarks:
// [Benchmark] = [...] }` in `XBench.swift` (each `Benchmark(name:summary:run:)` returns
// `[BenchResult]`), then add one line `XBench.benchmarks,` below. Names are `group-workload-shape`
// (e.g. `gemm-f32-4096x1024x4096`) so prefixes select groups on the command line.

/// Every benchmark, in the order `lattice-bench` runs them.
let allBenchmarks: [Benchmark] = [
    GemmBench.benchmarks,
    ElementwiseBench.benchmarks,
    AttentionBench.benchmarks,
    TransformerBench.benchmarks,
    ConvBench.benchmarks,
    SafetensorsBench.benchmarks,
    ModelsBench.benchmarks,
    RenderBench.benchmarks,
    MeshBench.benchmarks,
    SparseBench.benchmarks,
    FlowBench.benchmarks,
    SLatVAEBench.benchmarks,
    GeometryBench.benchmarks,
    TrainingBench.benchmarks,
    SLatGaussianTrainBench.benchmarks,
    StrivecBench.benchmarks,
].flatMap { $0 }
