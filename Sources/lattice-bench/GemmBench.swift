// SGEMM benchmarks: Lattice's Gemm against OpenBLAS timed in the same run on the same buffers
// (loaded with dlopen when installed; no link-time dependency), else baselines.md numbers.
import CLatticeKernels
import Foundation
import LatticeTensor

#if canImport(Glibc)
    import Glibc
#endif

/// SGEMM throughput benchmarks (`gemm-MxKxN`, GFLOPS).
enum GemmBench {
    /// One GEMM workload: C[M×N] = A[M×K]·op(B), B stored N×K when `transB` (as `linear` uses).
    struct Shape: Sendable {
        var m: Int
        var k: Int
        var n: Int
        var transB = false
        /// B is a bfloat16 weight W [N, K] read by `Gemm.sgemmHalfWeight` (OpenBLAS gets W in
        /// float32).
        var bf16Weight = false
        var threads: Int? = nil
        /// OpenBLAS 0.3.21 in ../shared/perf/baselines.md, used when OpenBLAS cannot be loaded.
        var recorded: Double? = nil

        var name: String {
            var s = "gemm-\(m)x\(k)x\(n)"
            if bf16Weight { s += "-bf16weight" } else if transB { s += "-transB" }
            if threads == 1 { s += "-1thread" }
            return s
        }
    }

    static let shapes: [Shape] = [
        Shape(m: 1024, k: 1024, n: 1024, recorded: 198),
        Shape(m: 4096, k: 1024, n: 4096, recorded: 190),
        Shape(m: 2048, k: 2048, n: 2048, recorded: 194),
        Shape(m: 4096, k: 1024, n: 3072, recorded: 195),
        Shape(m: 4096, k: 1024, n: 4096, transB: true),
        Shape(m: 4096, k: 1024, n: 4096, transB: true, bf16Weight: true),
        Shape(m: 1024, k: 1024, n: 1024, threads: 1, recorded: 100),
        Shape(m: 384, k: 384, n: 384, recorded: 204),
        Shape(m: 128, k: 64, n: 512),
        Shape(m: 64, k: 64, n: 64),
    ]

    static let benchmarks: [Benchmark] = shapes.map { shape in
        Benchmark(
            name: shape.name,
            summary: "SGEMM \(shape.m)x\(shape.k) · \(shape.k)x\(shape.n)"
                + (shape.bf16Weight ? " (B = bf16 weightᵀ)" : shape.transB ? " (B transposed)" : "")
                + ", \(shape.threads.map { "\($0)" } ?? "all") threads, vs OpenBLAS"
        ) { [run(shape)] }
    }

    /// Times Lattice and OpenBLAS alternately (A/B/A/B) so machine load affects both alike.
    static func run(_ s: Shape) -> BenchResult {
        let a = randomBuffer(s.m * s.k, seed: 1)
        let b = randomBuffer(s.k * s.n, seed: 2)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: s.m * s.n)
        defer {
            a.deallocate()
            b.deallocate()
            c.deallocate()
        }
        let threads = s.threads ?? Parallel.threadCount
        let ldb = s.transB ? s.k : s.n
        let half = UnsafeMutablePointer<UInt16>.allocate(capacity: s.bf16Weight ? s.k * s.n : 0)
        defer { half.deallocate() }
        if s.bf16Weight { lt_f32_to_bf16(b, half, Int64(s.k * s.n)) }
        let lattice = {
            if s.bf16Weight {
                Gemm.sgemmHalfWeight(
                    m: s.m, n: s.n, k: s.k, a: a, lda: s.k, w: half, ldw: s.k, bf16: true, c: c,
                    ldc: s.n)
            } else if threads == 1 {
                Gemm.sgemmSerial(
                    transB: s.transB, m: s.m, n: s.n, k: s.k, a: a, lda: s.k, b: b, ldb: ldb, c: c,
                    ldc: s.n)
            } else {
                Gemm.sgemm(
                    transB: s.transB, m: s.m, n: s.n, k: s.k, a: a, lda: s.k, b: b, ldb: ldb, c: c,
                    ldc: s.n)
            }
        }
        let blas = OpenBLAS.load(threads: threads)
        let reference = blas.map { blas in
            {
                blas.sgemm(
                    101, 111, s.transB ? 112 : 111, Int32(s.m), Int32(s.n), Int32(s.k), 1, a,
                    Int32(s.k), b, Int32(ldb), 0, c, Int32(s.n))
            }
        }
        let flops = 2.0 * Double(s.m) * Double(s.n) * Double(s.k)
        // About 0.1 s of work per side and block.
        let repeats = max(3, min(100, Int(2e10 / flops)))
        var mine: [Double] = []
        var theirs: [Double] = []
        // Three rounds of (Lattice × repeats, OpenBLAS × repeats). OpenBLAS's workers spin for a
        // while after each call, so each side's block starts after a pause and a warm-up run.
        for _ in 0..<3 {
            usleep(150_000)
            lattice()
            for _ in 0..<repeats { mine.append(seconds(lattice)) }
            guard let reference else { continue }
            usleep(150_000)
            reference()
            for _ in 0..<repeats { theirs.append(seconds(reference)) }
        }
        let gflops = flops / median(mine) * 1e-9
        if !theirs.isEmpty {
            return BenchResult(
                name: s.name, value: gflops, unit: "GFLOPS", baseline: "OpenBLAS (same run)",
                baselineValue: flops / median(theirs) * 1e-9,
                notes: "\(threads) thread(s), median of 3 alternating blocks of \(repeats) runs")
        }
        return BenchResult(
            name: s.name, value: gflops, unit: "GFLOPS",
            baseline: s.recorded == nil ? nil : "OpenBLAS 0.3.21 (baselines.md)",
            baselineValue: s.recorded, notes: "OpenBLAS not loadable; \(threads) thread(s)")
    }

    private static func seconds(_ body: () -> Void) -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    }

    private static func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    private static func randomBuffer(_ n: Int, seed: UInt64) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
        var g = RandomGenerator(seed: seed)
        let values = Tensor.rand([n], low: -1, high: 1, generator: &g).toFloats()
        p.initialize(from: values, count: n)
        return p
    }
}

/// cblas_sgemm from a system OpenBLAS, found at run time.
struct OpenBLAS {
    typealias SGEMM =
        @convention(c) (
            Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
            UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32
        ) -> Void
    typealias SetThreads = @convention(c) (Int32) -> Void

    let sgemm: SGEMM

    /// The library with `threads` worker threads, or nil when it is not installed.
    static func load(threads: Int) -> OpenBLAS? {
        #if os(Linux)
            let names = ["libopenblas.so.0", "libopenblas.so"]
        #else
            let names = ["libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib"]
        #endif
        for name in names {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL),
                let sym = dlsym(handle, "cblas_sgemm")
            else { continue }
            if let set = dlsym(handle, "openblas_set_num_threads") {
                unsafeBitCast(set, to: SetThreads.self)(Int32(threads))
            }
            return OpenBLAS(sgemm: unsafeBitCast(sym, to: SGEMM.self))
        }
        return nil
    }
}
