// SGEMM. The naive twin lives here; the blocked, packed version replaces lt_sgemm's body.
#include "lt_gemm.h"

void lt_sgemm_naive(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                    float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int64_t p = 0; p < K; p++) {
                float a = transA ? A[p * lda + i] : A[i * lda + p];
                float b = transB ? B[j * ldb + p] : B[p * ldb + j];
                acc += a * b;
            }
            float old = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
            C[i * ldc + j] = alpha * acc + old;
        }
    }
}

void lt_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc) {
    lt_sgemm_naive(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
