// Fused, tiled scaled-dot-product attention (flash-attention style online softmax), fp32.
#ifndef LT_ATTENTION_H
#define LT_ATTENTION_H
#include "lt_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/// Forward attention for one (batch, head) slice and a block of `nq` query rows against `nk`
/// keys: O = softmax(scale * Q K^T + mask) V without materialising the nq×nk matrix.
/// Q is nq×d (row stride ldq), K nk×d (ldk), V nk×dv (ldv), O nq×dv (ldo); the last dimension of
/// each is contiguous. `mask` (may be NULL) is an additive nq×nk matrix addressed as
/// mask[i*mask_rs + j*mask_cs] (strides may be 0 for broadcasting). `lse2` receives, per query
/// row, the log-sum-exp of the scores in base 2 (log2 of the softmax normaliser, scores scaled by
/// log2(e)), used by the backward pass. Rows whose scores are all -inf get O = 0 and
/// lse2 = +inf, which makes the backward pass give them zero gradients.
/// Workspace is O(tile) and allocated inside; returns 0, or -1 if allocation failed.
int lt_attn_fwd(int64_t nq, int64_t nk, int64_t d, int64_t dv, float scale, const float *q,
                int64_t ldq, const float *k, int64_t ldk, const float *v, int64_t ldv,
                const float *mask, int64_t mask_rs, int64_t mask_cs, float *o, int64_t ldo,
                float *lse2);

/// delta[i] = Σ_c dO[i,c]·O[i,c] for nq rows (the D term of the FlashAttention-2 backward).
void lt_attn_bwd_delta(int64_t nq, int64_t dv, const float *o, int64_t ldo, const float *dout,
                       int64_t lddo, float *delta);

/// Backward attention for one slice: all `nq` query rows against the `nk` keys given (callers
/// split keys into groups for parallelism by offsetting k, v, mask, dk, dv). Recomputes the
/// probabilities tile by tile from `lse2` (from lt_attn_fwd). Writes dK (nk×d, lddk) and
/// dV (nk×dv, lddv); ADDS this key range's contribution to dQ (nq×d, lddq).
/// Returns 0, or -1 if workspace allocation failed.
int lt_attn_bwd(int64_t nq, int64_t nk, int64_t d, int64_t dv, float scale, const float *q,
                int64_t ldq, const float *k, int64_t ldk, const float *v, int64_t ldv,
                const float *mask, int64_t mask_rs, int64_t mask_cs, const float *dout,
                int64_t lddo, const float *lse2, const float *delta, float *dq, int64_t lddq,
                float *dk, int64_t lddk, float *dvout, int64_t lddv);

/// Tile product used by the attention kernels, exposed for its naive-twin test:
/// C[M×N] (+)= A·B with A(r,p) = A[r*ars + p*acs], B(p,c) = B[p*ldb + c].
void lt_attn_tile_gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                       int64_t acs, const float *B, int64_t ldb, float *C, int64_t ldc,
                       int accumulate);

/// Vectorised 2^x over n floats in place (the softmax exponential), exposed for its test.
/// Inputs below -126 give exactly 0.
void lt_attn_exp2(float *x, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
