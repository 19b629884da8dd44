// Swift entry point to SGEMM. Other kernels (convolutions, attention tiles, sparse conv) call
// this rather than lt_sgemm so threading policy lives in one place.
import CLatticeKernels

/// Row-major float32 matrix products on raw pointers.
public enum Gemm {
    /// Below this many multiply-adds a GEMM runs on one thread: waking a second thread costs
    /// more than it saves (~1M MACs is ~10 µs on one core).
    @usableFromInline static let serialMACs = 1 << 20

    /// Row blocks are multiples of this (a multiple of every micro-kernel's MR).
    @usableFromInline static let rowAlign = 12
    /// Column blocks are multiples of this (a multiple of every micro-kernel's NR).
    @usableFromInline static let colAlign = 32

    /// C[M×N] = alpha·op(A)·op(B) + beta·C, using all `Parallel.threadCount` threads.
    /// `transA`: A is stored K×M (lda ≥ M); `transB`: B is stored N×K (ldb ≥ K).
    /// beta == 0 never reads C.
    ///
    /// C is split into row (or column) blocks, one per thread, by shape and thread count only.
    /// Each element is accumulated in the same order as in a one-thread call, so the result is
    /// bit-identical to `sgemmSerial` for any thread count.
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let threads = Parallel.threadCount
        if threads <= 1 || m * n * max(k, 1) < serialMACs {
            sgemmSerial(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        // Split the larger of M and N: each part re-packs the whole of the other operand, which
        // costs K·(smaller dimension) per part.
        let splitRows = m >= n
        let extent = splitRows ? m : n
        let align = splitRows ? rowAlign : colAlign
        let blocks = (extent + align - 1) / align
        let parts = min(threads, blocks)
        if parts <= 1 {
            sgemmSerial(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        let step = (blocks + parts - 1) / parts * align
        if splitRows
            && sgemmSharedB(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, parts: parts, rowStep: step)
        {
            return
        }
        Parallel.run(chunks: parts) { part in
            let lo = part * step
            let hi = min(extent, lo + step)
            if lo >= hi { return }
            if splitRows {
                let aPart = transA ? a + lo : a + lo * lda
                sgemmSerial(
                    transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha,
                    a: aPart, lda: lda, b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
            } else {
                let bPart = transB ? b + lo * ldb : b + lo
                sgemmSerial(
                    transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha, a: a,
                    lda: lda, b: bPart, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
            }
        }
    }

    /// Row split with B packed once: the threads first pack disjoint column ranges of B into a
    /// buffer of the calling thread, then each multiplies its rows by the whole packed B.
    /// Returns false (nothing done) when the buffer cannot be had.
    private static func sgemmSharedB(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int, parts: Int, rowStep: Int
    ) -> Bool {
        // Matrix-vector products (n == 1) skip packing altogether inside lt_sgemm.
        if k <= 0 || alpha == 0 || n == 1 { return false }
        // One level for the whole product: packing layout depends on the micro-kernel.
        let level = lt_cpu_level()
        let size = lt_sgemm_packed_b_size(level, Int64(k), Int64(n))
        guard let packed = lt_sgemm_shared_workspace(size) else { return false }
        defer { lt_sgemm_shared_release(packed) }
        let colBlocks = (n + colAlign - 1) / colAlign
        let colStep = (colBlocks + parts - 1) / parts * colAlign
        Parallel.run(chunks: parts) { part in
            let lo = part * colStep
            let hi = min(n, lo + colStep)
            if lo < hi {
                lt_sgemm_pack_b(
                    level, transB ? 1 : 0, Int64(k), Int64(n), b, Int64(ldb), Int64(lo), Int64(hi),
                    packed)
            }
        }
        Parallel.run(chunks: parts) { part in
            let lo = part * rowStep
            let hi = min(m, lo + rowStep)
            if lo >= hi { return }
            lt_sgemm_packed(
                level, transA ? 1 : 0, Int64(hi - lo), Int64(n), Int64(k), alpha,
                transA ? a + lo : a + lo * lda, Int64(lda), packed, beta, c + lo * ldc, Int64(ldc))
        }
        return true
    }

    /// C[M×N] = A[M×K]·Wᵀ + beta·C for a 16-bit float weight W [N, K] (row stride ldw;
    /// bfloat16 when `bf16`, else IEEE half), converted to float32 while packing so no float32
    /// copy of W is made. Same bits as `sgemm(transB: true)` on W converted to float32 when
    /// m, n > 1 (matrix-vector products there sum in another order).
    public static func sgemmHalfWeight(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, w: UnsafePointer<UInt16>,
        ldw: Int, bf16: Bool, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m <= 0 || n <= 0 { return }
        let level = lt_cpu_level()
        let size = lt_sgemm_packed_b_size(level, Int64(k), Int64(n))
        guard k > 0, let packed = lt_sgemm_shared_workspace(size) else {
            // K == 0 (C = beta·C) or out of memory: let lt_sgemm handle C on a float32 copy.
            let wf = UnsafeMutablePointer<Float>.allocate(capacity: max(n * k, 1))
            defer { wf.deallocate() }
            for r in 0..<n {
                if bf16 {
                    lt_bf16_to_f32(w + r * ldw, wf + r * k, Int64(k))
                } else {
                    lt_f16_to_f32(w + r * ldw, wf + r * k, Int64(k))
                }
            }
            sgemm(
                transB: true, m: m, n: n, k: k, a: a, lda: lda, b: wf, ldb: max(k, 1), beta: beta,
                c: c, ldc: ldc)
            return
        }
        defer { lt_sgemm_shared_release(packed) }
        let threads = m * n * k < serialMACs ? 1 : Parallel.threadCount
        let colBlocks = (n + colAlign - 1) / colAlign
        let packParts = min(threads, colBlocks)
        let colStep = (colBlocks + packParts - 1) / packParts * colAlign
        Parallel.run(chunks: packParts) { part in
            let lo = part * colStep
            let hi = min(n, lo + colStep)
            if lo < hi {
                lt_sgemm_pack_b_half_t(
                    level, bf16 ? 1 : 0, Int64(k), Int64(n), w, Int64(ldw), Int64(lo), Int64(hi),
                    packed)
            }
        }
        let rowBlocks = (m + rowAlign - 1) / rowAlign
        let parts = min(threads, rowBlocks)
        let rowStep = (rowBlocks + parts - 1) / parts * rowAlign
        Parallel.run(chunks: parts) { part in
            let lo = part * rowStep
            let hi = min(m, lo + rowStep)
            if lo >= hi { return }
            lt_sgemm_packed(
                level, 0, Int64(hi - lo), Int64(n), Int64(k), 1, a + lo * lda, Int64(lda), packed,
                beta, c + lo * ldc, Int64(ldc))
        }
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
