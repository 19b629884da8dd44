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

#ifdef __cplusplus
}
#endif
#endif
