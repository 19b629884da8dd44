// Sparse convolution kernels: an indirect (gather-GEMM-scatter) product over a list of row
// pairs, reading input rows and updating output rows in place with no gather/scatter buffers.
#ifndef LT_SPARSE_H
#define LT_SPARSE_H

#include "lt_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/// For p in [0, np): out[dst[p]*ldo + j] += Σ_c in[src[p]*ldi + c] · w[c*ldw + j], c < k, j < n.
/// Output rows are updated one pair at a time in order, so repeated dst rows are safe.
/// Dispatches to AVX-512 (6×64 register tile) or AVX2 (6×16) micro-kernels, else a portable loop.
void lt_sparse_gather_gemm_scatter(const float *in, int64_t ldi, const int32_t *src,
                                   const int32_t *dst, int64_t np, const float *w, int64_t ldw,
                                   int64_t k, int64_t n, float *out, int64_t ldo);

/// The portable loop of `lt_sparse_gather_gemm_scatter` (naive twin for tests).
void lt_sparse_gather_gemm_scatter_portable(const float *in, int64_t ldi, const int32_t *src,
                                            const int32_t *dst, int64_t np, const float *w,
                                            int64_t ldw, int64_t k, int64_t n, float *out,
                                            int64_t ldo);

#ifdef __cplusplus
}
#endif
#endif
