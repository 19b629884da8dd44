// Swift entry point to SGEMM. Other kernels (convolutions, attention tiles, sparse conv) call
// this rather than lt_sgemm so threading policy lives in one place.
import CLatticeKernels

/// Row-major float32 matrix products on raw pointers.
public enum Gemm {
    /// C[M×N] = alpha·op(A)·op(B) + beta·C, using all `Parallel.threadCount` threads.
    /// `transA`: A is stored K×M (lda ≥ M); `transB`: B is stored N×K (ldb ≥ K).
    /// beta == 0 never reads C.
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        lt_sgemm(
            transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b,
            Int64(ldb), beta, c, Int64(ldc))
    }

    /// Single-threaded variant, for callers that already parallelise over independent GEMMs
    /// (attention heads, sparse-conv offsets).
    public static func sgemmSerial(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        lt_sgemm(
            transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b,
            Int64(ldb), beta, c, Int64(ldc))
    }
}
