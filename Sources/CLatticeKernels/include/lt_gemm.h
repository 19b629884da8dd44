// Single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, row-major.
#ifndef LT_GEMM_H
#define LT_GEMM_H
#include "lt_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/// Row-major SGEMM on one thread. op(A) is M×K, op(B) is K×N, C is M×N.
/// transA/transB != 0 read A/B transposed (A stored K×M with lda, B stored N×K with ldb).
/// beta == 0 ignores (never reads) C's old contents, so C may hold NaN garbage.
/// Chooses the fastest micro-kernel for this CPU at run time.
void lt_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc);

/// The naive twin of lt_sgemm: a plain triple loop with float accumulation, for tests.
void lt_sgemm_naive(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                    float *C, int64_t ldc);

/// Pre-packed B, shared by threads that compute different row blocks of one product (so B is
/// packed once, not once per thread). `level` is one lt_cpu_level() value used for all three
/// calls of one product. Floats needed to hold op(B) (K×N) packed:
size_t lt_sgemm_packed_b_size(int level, int64_t K, int64_t N);

/// Packs columns [n0, n1) of op(B) (K×N; B stored N×K when transB) into `packed`; n0 must be a
/// multiple of 32. Disjoint column ranges may be packed by different threads.
void lt_sgemm_pack_b(int level, int transB, int64_t K, int64_t N, const float *B, int64_t ldb,
                     int64_t n0, int64_t n1, float *packed);

/// As lt_sgemm_pack_b for B = Wᵀ, W an [N, K] row-major matrix (row stride ldw) of 16-bit
/// floats: bfloat16 when `bf16`, else IEEE half. Converts while packing, so a half-precision
/// weight never needs a float32 copy. Gives the same packed values as converting W first.
void lt_sgemm_pack_b_half_t(int level, int bf16, int64_t K, int64_t N, const uint16_t *W,
                            int64_t ldw, int64_t n0, int64_t n1, float *packed);

/// C[M×N] = alpha·op(A)·B + beta·C with B packed by lt_sgemm_pack_b (same level, K, N).
/// Bit-identical to lt_sgemm on the same operands.
void lt_sgemm_packed(int level, int transA, int64_t M, int64_t N, int64_t K, float alpha,
                     const float *A, int64_t lda, const float *packedB, float beta, float *C,
                     int64_t ldc);

/// A buffer of at least `floats` for a packed B that the calling thread's workers read: the
/// calling thread's reusable buffer when small (≤ 16 MiB), else a fresh allocation. Hand it
/// back with lt_sgemm_shared_release on the same thread. NULL when out of memory.
float *lt_sgemm_shared_workspace(size_t floats);

/// Ends the use of a lt_sgemm_shared_workspace buffer (frees it unless it is the kept one).
void lt_sgemm_shared_release(float *buffer);

#ifdef __cplusplus
}
#endif
#endif
