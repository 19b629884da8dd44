// Benchmark plumbing: timing with warm-up and medians, results with their baselines.
import Foundation
import LatticeTensor

/// One measured number, compared with a baseline from ../shared/perf/baselines.md or a
/// reference measured in the same run.
struct BenchResult: Codable, Sendable {
    /// Workload and shape, e.g. `gemm-4096x1024x4096`.
    var name: String
    var value: Double
    /// `GFLOPS`, `ms`, `MB`, ...
    var unit: String
    /// What `baselineValue` is (e.g. "OpenBLAS 0.3.21, same run" or "PyTorch 2.15 (baselines.md)").
    var baseline: String?
    var baselineValue: Double?
    /// value/baseline for throughput units, baseline/value for times: > 1 means Lattice is faster.
    var speedup: Double?
    var notes: String?

    init(
        name: String, value: Double, unit: String, baseline: String? = nil,
        baselineValue: Double? = nil, notes: String? = nil
    ) {
        self.name = name
        self.value = value
        self.unit = unit
        self.baseline = baseline
        self.baselineValue = baselineValue
        self.notes = notes
        if let b = baselineValue, b > 0, value > 0 {
            let lowerIsBetter = ["ms", "s", "MB", "bytes"].contains(unit)
            speedup = lowerIsBetter ? b / value : value / b
        }
    }
}

/// A named benchmark; `run` returns one or more results.
struct Benchmark: Sendable {
    let name: String
    let summary: String
    let run: @Sendable () throws -> [BenchResult]
}

enum Timing {
    /// Median wall time in seconds of `body` over `repeats` runs after `warmup` runs.
    static func median(warmup: Int = 1, repeats: Int = 5, _ body: () -> Void) -> Double {
        for _ in 0..<warmup { body() }
        var times: [Double] = []
        for _ in 0..<max(repeats, 1) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        times.sort()
        return times[times.count / 2]
    }

    /// Peak bytes of tensor storage allocated by `body` above what was live before it.
    static func peakExtraBytes(_ body: () -> Void) -> Int {
        let before = MemoryStats.liveBytes
        MemoryStats.resetPeak()
        body()
        return MemoryStats.peakBytes - before
    }
}
