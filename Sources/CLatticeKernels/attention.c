// Fused attention kernels: tiled forward with online softmax and a FlashAttention-2 style
// backward that recomputes probabilities per tile. Memory is O(rows·d + tile), never nq×nk.
//
// Scores are kept in base-2 units (scale·log2(e) folded into one multiplier) so the softmax uses
// exp2, which a polynomial plus an exponent shift evaluates exactly where needed. Tile products
// go through register-blocked micro-kernels (AVX-512 here; a portable loop with target_clones
// elsewhere) because the tiles are far too small for a general packed GEMM to pay off.
#include "lt_attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define LT_LOG2E 1.4426950408889634f
// Keys per tile (forward and backward) and query rows per tile (backward). 64 keys keep the
// packed K^T panel (d×64) and the V panel (64×dv) in L1 for d = 64 while 6-row micro-tiles
// stream over them.
#define LT_ATTN_BC 64
#define LT_ATTN_BR_FWD 128
#define LT_ATTN_BR_BWD 64

#define LT_AI static inline __attribute__((always_inline))

// Taylor coefficients of 2^f = e^(f ln 2); on |f| <= 0.5 the degree-6 truncation error is
// 1.2e-7 relative, about one float ulp.
#define LT_EXP2_C1 0.6931471805599453f
#define LT_EXP2_C2 0.2402265069591007f
#define LT_EXP2_C3 0.05550410866482158f
#define LT_EXP2_C4 0.009618129107628477f
#define LT_EXP2_C5 0.0013333558146428443f
#define LT_EXP2_C6 0.00015403530393381606f

static void *lt_attn_alloc(size_t floats) {
    size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    return aligned_alloc(64, bytes);
}

// MARK: portable paths (auto-vectorised per ISA through target_clones)

// Branch-free 2^x: round to nearest with the 1.5·2^23 trick, polynomial on the fraction, and
// the integer part added to the exponent field. Below -126 the result is exactly 0.
static inline float lt_exp2_scalar(float x) {
    float xc = x < -126.0f ? -126.0f : (x > 127.0f ? 127.0f : x);
    float n = (xc + 12582912.0f) - 12582912.0f;
    float f = xc - n;
    float p = LT_EXP2_C6;
    p = p * f + LT_EXP2_C5;
    p = p * f + LT_EXP2_C4;
    p = p * f + LT_EXP2_C3;
    p = p * f + LT_EXP2_C2;
    p = p * f + LT_EXP2_C1;
    p = p * f + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float r = p * scale;
    return x < -126.0f ? 0.0f : r;
}

LT_CLONES
static void lt_exp2_portable(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = lt_exp2_scalar(x[i]);
}

LT_CLONES
static void tile_gemm_portable(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                               int64_t acs, const float *B, int64_t ldb, float *C, int64_t ldc,
                               int accumulate) {
    for (int64_t i = 0; i < M; i++) {
        float *restrict crow = C + i * ldc;
        if (!accumulate)
            for (int64_t c = 0; c < N; c++) crow[c] = 0.0f;
        for (int64_t p = 0; p < K; p++) {
            float a = A[i * ars + p * acs];
            const float *restrict brow = B + p * ldb;
            for (int64_t c = 0; c < N; c++) crow[c] += a * brow[c];
        }
    }
}

// Scales scores to base 2, adds the mask, and folds the tile into each row's running max `m`
// and normaliser `l`; S is overwritten with P = 2^(x - m_new). `alpha` receives the factor the
// row's output accumulator must be multiplied by (2^(m_old - m_new)).
LT_CLONES
static void fwd_softmax_portable(int64_t mb, int64_t nb, float *S, int64_t lds, float c,
                                 const float *mask, int64_t mrs, int64_t mcs, float *m, float *l,
                                 float *alpha) {
    for (int64_t i = 0; i < mb; i++) {
        float *s = S + i * lds;
        float rmax = -INFINITY;
        for (int64_t j = 0; j < nb; j++) {
            float x = s[j] * c;
            if (mask) x += mask[i * mrs + j * mcs] * LT_LOG2E;
            s[j] = x;
            rmax = x > rmax ? x : rmax;
        }
        float mnew = m[i] > rmax ? m[i] : rmax;
        float base = mnew == -INFINITY ? 0.0f : mnew;
        float sum = 0.0f;
        for (int64_t j = 0; j < nb; j++) {
            float e = lt_exp2_scalar(s[j] - base);
            s[j] = e;
            sum += e;
        }
        float a = m[i] == -INFINITY ? 0.0f : exp2f(m[i] - base);
        l[i] = l[i] * a + sum;
        m[i] = mnew;
        alpha[i] = a;
    }
}

// P = 2^(scores·c + mask·log2e - lse2) for the backward pass.
LT_CLONES
static void bwd_probs_portable(int64_t mb, int64_t nb, float *S, int64_t lds, float c,
                               const float *mask, int64_t mrs, int64_t mcs, const float *lse2) {
    for (int64_t i = 0; i < mb; i++) {
        float *s = S + i * lds;
        float base = lse2[i];
        for (int64_t j = 0; j < nb; j++) {
            float x = s[j] * c;
            if (mask) x += mask[i * mrs + j * mcs] * LT_LOG2E;
            s[j] = lt_exp2_scalar(x - base);
        }
    }
}

// dS = P ⊙ (dP - delta_i) · scale, written over dP.
LT_CLONES
static void bwd_dscores(int64_t mb, int64_t nb, const float *P, float *dP, int64_t ld,
                        const float *delta, float scale) {
    for (int64_t i = 0; i < mb; i++) {
        const float *restrict p = P + i * ld;
        float *restrict g = dP + i * ld;
        float di = delta[i];
        for (int64_t j = 0; j < nb; j++) g[j] = p[j] * (g[j] - di) * scale;
    }
}

LT_CLONES
static void scale_rows(int64_t mb, int64_t n, float *X, int64_t ld, const float *alpha) {
    for (int64_t i = 0; i < mb; i++) {
        float a = alpha[i];
        if (a == 1.0f) continue;
        float *restrict x = X + i * ld;
        for (int64_t c = 0; c < n; c++) x[c] *= a;
    }
}

// MARK: AVX-512 paths

#if defined(__x86_64__)

LT_TARGET_AVX512 LT_AI __m512 lt_exp2_avx512(__m512 x) {
    __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-126.0f), _CMP_LT_OQ);
    __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-126.0f)), _mm512_set1_ps(127.0f));
    __m512 n = _mm512_roundscale_ps(xc, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(xc, n);
    __m512 p = _mm512_set1_ps(LT_EXP2_C6);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(LT_EXP2_C5));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(LT_EXP2_C4));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(LT_EXP2_C3));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(LT_EXP2_C2));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(LT_EXP2_C1));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_maskz_mov_ps((__mmask16)~under, _mm512_scalef_ps(p, n));
}

LT_AI __mmask16 lt_tail_mask(int64_t rem) {
    return rem >= 16 ? (__mmask16)0xFFFF : rem <= 0 ? (__mmask16)0 : (__mmask16)((1u << rem) - 1u);
}

LT_TARGET_AVX512
static void lt_exp2_avx512_array(float *x, int64_t n) {
    for (int64_t j = 0; j < n; j += 16) {
        __mmask16 mk = lt_tail_mask(n - j);
        _mm512_mask_storeu_ps(x + j, mk, lt_exp2_avx512(_mm512_maskz_loadu_ps(mk, x + j)));
    }
}

// C[mr×nc] (+)= A·B for mr <= MR rows and nc <= 16·NV columns, MR·NV accumulators in zmm
// registers. Rows beyond mr re-read the last valid row (never stored) so the body has no
// branches; columns beyond nc are masked.
LT_TARGET_AVX512 LT_AI void mk512(const int MR, const int NV, int64_t mr, int64_t nc, int64_t K,
                                  const float *A, int64_t ars, int64_t acs, const float *B,
                                  int64_t ldb, float *C, int64_t ldc, int accumulate) {
    __mmask16 msk[4];
    const float *ap[12];
    __m512 acc[12][4];
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) msk[v] = lt_tail_mask(nc - 16 * v);
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) ap[r] = A + (r < mr ? r : mr - 1) * ars;
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++)
            acc[r][v] = (accumulate && r < mr)
                            ? _mm512_maskz_loadu_ps(msk[v], C + r * ldc + 16 * v)
                            : _mm512_setzero_ps();
    }
    for (int64_t p = 0; p < K; p++) {
        const float *bp = B + p * ldb;
        int64_t off = p * acs;
        __m512 b[4];
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) b[v] = _mm512_maskz_loadu_ps(msk[v], bp + 16 * v);
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            __m512 a = _mm512_set1_ps(ap[r][off]);
#pragma clang loop unroll(full)
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
        if (r < mr) {
#pragma clang loop unroll(full)
            for (int v = 0; v < NV; v++)
                _mm512_mask_storeu_ps(C + r * ldc + 16 * v, msk[v], acc[r][v]);
        }
    }
}

LT_TARGET_AVX512
static void mk512_6x64(int64_t mr, int64_t nc, int64_t K, const float *A, int64_t ars,
                       int64_t acs, const float *B, int64_t ldb, float *C, int64_t ldc,
                       int accumulate) {
    mk512(6, 4, mr, nc, K, A, ars, acs, B, ldb, C, ldc, accumulate);
}

LT_TARGET_AVX512
static void mk512_12x32(int64_t mr, int64_t nc, int64_t K, const float *A, int64_t ars,
                        int64_t acs, const float *B, int64_t ldb, float *C, int64_t ldc,
                        int accumulate) {
    mk512(12, 2, mr, nc, K, A, ars, acs, B, ldb, C, ldc, accumulate);
}

LT_TARGET_AVX512
static void tile_gemm_avx512(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                             int64_t acs, const float *B, int64_t ldb, float *C, int64_t ldc,
                             int accumulate) {
    for (int64_t j = 0; j < N; j += 64) {
        int64_t w = N - j < 64 ? N - j : 64;
        if (w > 32) {
            for (int64_t i = 0; i < M; i += 6)
                mk512_6x64(M - i < 6 ? M - i : 6, w, K, A + i * ars, ars, acs, B + j, ldb,
                           C + i * ldc + j, ldc, accumulate);
        } else {
            for (int64_t i = 0; i < M; i += 12)
                mk512_12x32(M - i < 12 ? M - i : 12, w, K, A + i * ars, ars, acs, B + j, ldb,
                            C + i * ldc + j, ldc, accumulate);
        }
    }
}

// Loads 16 mask values starting at column j (masked by mk), for any column stride.
LT_TARGET_AVX512 LT_AI __m512 lt_load_mask(const float *row, int64_t j, int64_t mcs,
                                           __mmask16 mk) {
    if (mcs == 1) return _mm512_maskz_loadu_ps(mk, row + j);
    if (mcs == 0) return _mm512_set1_ps(row[0]);
    float tmp[16];
    for (int t = 0; t < 16; t++) tmp[t] = (mk >> t) & 1 ? row[(j + t) * mcs] : 0.0f;
    return _mm512_loadu_ps(tmp);
}

LT_TARGET_AVX512
static void fwd_softmax_avx512(int64_t mb, int64_t nb, float *S, int64_t lds, float c,
                               const float *mask, int64_t mrs, int64_t mcs, float *m, float *l,
                               float *alpha) {
    const __m512 vc = _mm512_set1_ps(c);
    const __m512 vl2e = _mm512_set1_ps(LT_LOG2E);
    for (int64_t i = 0; i < mb; i++) {
        float *s = S + i * lds;
        const float *mrow = mask ? mask + i * mrs : NULL;
        __m512 vmax = _mm512_set1_ps(-INFINITY);
        for (int64_t j = 0; j < nb; j += 16) {
            __mmask16 mk = lt_tail_mask(nb - j);
            __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, s + j), vc);
            if (mrow) x = _mm512_fmadd_ps(lt_load_mask(mrow, j, mcs, mk), vl2e, x);
            _mm512_mask_storeu_ps(s + j, mk, x);
            vmax = _mm512_mask_max_ps(vmax, mk, vmax, x);
        }
        float rmax = _mm512_reduce_max_ps(vmax);
        float mnew = m[i] > rmax ? m[i] : rmax;
        float base = mnew == -INFINITY ? 0.0f : mnew;
        const __m512 vb = _mm512_set1_ps(base);
        __m512 vsum = _mm512_setzero_ps();
        for (int64_t j = 0; j < nb; j += 16) {
            __mmask16 mk = lt_tail_mask(nb - j);
            __m512 e = lt_exp2_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, s + j), vb));
            e = _mm512_maskz_mov_ps(mk, e);
            _mm512_mask_storeu_ps(s + j, mk, e);
            vsum = _mm512_add_ps(vsum, e);
        }
        float a = m[i] == -INFINITY ? 0.0f : exp2f(m[i] - base);
        l[i] = l[i] * a + _mm512_reduce_add_ps(vsum);
        m[i] = mnew;
        alpha[i] = a;
    }
}

LT_TARGET_AVX512
static void bwd_probs_avx512(int64_t mb, int64_t nb, float *S, int64_t lds, float c,
                             const float *mask, int64_t mrs, int64_t mcs, const float *lse2) {
    const __m512 vc = _mm512_set1_ps(c);
    const __m512 vl2e = _mm512_set1_ps(LT_LOG2E);
    for (int64_t i = 0; i < mb; i++) {
        float *s = S + i * lds;
        const float *mrow = mask ? mask + i * mrs : NULL;
        const __m512 vb = _mm512_set1_ps(lse2[i]);
        for (int64_t j = 0; j < nb; j += 16) {
            __mmask16 mk = lt_tail_mask(nb - j);
            __m512 x = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(mk, s + j), vc, vb);
            if (mrow) x = _mm512_fmadd_ps(lt_load_mask(mrow, j, mcs, mk), vl2e, x);
            _mm512_mask_storeu_ps(s + j, mk, lt_exp2_avx512(x));
        }
    }
}

#endif  // __x86_64__

// MARK: dispatch

static void tile_gemm(int lvl, int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                      int64_t acs, const float *B, int64_t ldb, float *C, int64_t ldc,
                      int accumulate) {
    if (M <= 0 || N <= 0) return;
#if defined(__x86_64__)
    if (lvl >= 2) {
        tile_gemm_avx512(M, N, K, A, ars, acs, B, ldb, C, ldc, accumulate);
        return;
    }
#endif
    (void)lvl;
    tile_gemm_portable(M, N, K, A, ars, acs, B, ldb, C, ldc, accumulate);
}

void lt_attn_tile_gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                       int64_t acs, const float *B, int64_t ldb, float *C, int64_t ldc,
                       int accumulate) {
    tile_gemm(lt_cpu_level(), M, N, K, A, ars, acs, B, ldb, C, ldc, accumulate);
}

void lt_attn_exp2(float *x, int64_t n) {
#if defined(__x86_64__)
    if (lt_cpu_level() >= 2) {
        lt_exp2_avx512_array(x, n);
        return;
    }
#endif
    lt_exp2_portable(x, n);
}

// Packs rows [0, nb) of a row-major block X (nb×d, stride ldx) transposed into T (d×LT_ATTN_BC).
static void pack_transposed(int64_t nb, int64_t d, const float *X, int64_t ldx, float *T) {
    for (int64_t j = 0; j < nb; j++) {
        const float *row = X + j * ldx;
        for (int64_t p = 0; p < d; p++) T[p * LT_ATTN_BC + j] = row[p];
    }
}

int lt_attn_fwd(int64_t nq, int64_t nk, int64_t d, int64_t dv, float scale, const float *q,
                int64_t ldq, const float *k, int64_t ldk, const float *v, int64_t ldv,
                const float *mask, int64_t mask_rs, int64_t mask_cs, float *o, int64_t ldo,
                float *lse2) {
    const int lvl = lt_cpu_level();
    const int64_t br = LT_ATTN_BR_FWD, bc = LT_ATTN_BC;
    float *kt = lt_attn_alloc((size_t)(d * bc));
    float *s = lt_attn_alloc((size_t)(br * bc));
    float *stats = lt_attn_alloc((size_t)(3 * br));
    if (!kt || !s || !stats) {
        free(kt);
        free(s);
        free(stats);
        return -1;
    }
    float *m = stats, *l = stats + br, *alpha = stats + 2 * br;
    const float c = scale * LT_LOG2E;

    for (int64_t i0 = 0; i0 < nq; i0 += br) {
        int64_t mb = nq - i0 < br ? nq - i0 : br;
        for (int64_t i = 0; i < mb; i++) {
            m[i] = -INFINITY;
            l[i] = 0.0f;
            memset(o + (i0 + i) * ldo, 0, (size_t)dv * sizeof(float));
        }
        // Re-packing K^T per query block costs 1/(4·br) of the tile products.
        for (int64_t j0 = 0; j0 < nk; j0 += bc) {
            int64_t nb = nk - j0 < bc ? nk - j0 : bc;
            pack_transposed(nb, d, k + j0 * ldk, ldk, kt);
            tile_gemm(lvl, mb, nb, d, q + i0 * ldq, ldq, 1, kt, bc, s, bc, 0);  // [mb, nb]
            const float *mblk = mask ? mask + i0 * mask_rs + j0 * mask_cs : NULL;
#if defined(__x86_64__)
            if (lvl >= 2)
                fwd_softmax_avx512(mb, nb, s, bc, c, mblk, mask_rs, mask_cs, m, l, alpha);
            else
#endif
                fwd_softmax_portable(mb, nb, s, bc, c, mblk, mask_rs, mask_cs, m, l, alpha);
            scale_rows(mb, dv, o + i0 * ldo, ldo, alpha);
            tile_gemm(lvl, mb, dv, nb, s, bc, 1, v + j0 * ldv, ldv, o + i0 * ldo, ldo, 1);
        }
        for (int64_t i = 0; i < mb; i++) {
            // A row with no finite score has l = 0: define its output as 0 (see header).
            float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
            alpha[i] = inv;
            lse2[i0 + i] = l[i] > 0.0f ? m[i] + log2f(l[i]) : INFINITY;
        }
        scale_rows(mb, dv, o + i0 * ldo, ldo, alpha);
    }
    free(kt);
    free(s);
    free(stats);
    return 0;
}

LT_CLONES
void lt_attn_bwd_delta(int64_t nq, int64_t dv, const float *o, int64_t ldo, const float *dout,
                       int64_t lddo, float *delta) {
    for (int64_t i = 0; i < nq; i++) {
        const float *a = o + i * ldo, *b = dout + i * lddo;
        float acc = 0.0f;
        for (int64_t c = 0; c < dv; c++) acc += a[c] * b[c];
        delta[i] = acc;
    }
}

int lt_attn_bwd(int64_t nq, int64_t nk, int64_t d, int64_t dv, float scale, const float *q,
                int64_t ldq, const float *k, int64_t ldk, const float *v, int64_t ldv,
                const float *mask, int64_t mask_rs, int64_t mask_cs, const float *dout,
                int64_t lddo, const float *lse2, const float *delta, float *dq, int64_t lddq,
                float *dk, int64_t lddk, float *dvout, int64_t lddv) {
    const int lvl = lt_cpu_level();
    const int64_t br = LT_ATTN_BR_BWD, bc = LT_ATTN_BC;
    float *kt = lt_attn_alloc((size_t)(d * bc));
    float *vt = lt_attn_alloc((size_t)(dv * bc));
    float *p = lt_attn_alloc((size_t)(br * bc));
    float *ds = lt_attn_alloc((size_t)(br * bc));
    if (!kt || !vt || !p || !ds) {
        free(kt);
        free(vt);
        free(p);
        free(ds);
        return -1;
    }
    const float c = scale * LT_LOG2E;

    for (int64_t j0 = 0; j0 < nk; j0 += bc) {
        int64_t nb = nk - j0 < bc ? nk - j0 : bc;
        pack_transposed(nb, d, k + j0 * ldk, ldk, kt);
        pack_transposed(nb, dv, v + j0 * ldv, ldv, vt);
        float *dkb = dk + j0 * lddk, *dvb = dvout + j0 * lddv;
        for (int64_t j = 0; j < nb; j++) {
            memset(dkb + j * lddk, 0, (size_t)d * sizeof(float));
            memset(dvb + j * lddv, 0, (size_t)dv * sizeof(float));
        }
        for (int64_t i0 = 0; i0 < nq; i0 += br) {
            int64_t mb = nq - i0 < br ? nq - i0 : br;
            const float *qb = q + i0 * ldq, *dob = dout + i0 * lddo;
            tile_gemm(lvl, mb, nb, d, qb, ldq, 1, kt, bc, p, bc, 0);  // S [mb, nb]
            const float *mblk = mask ? mask + i0 * mask_rs + j0 * mask_cs : NULL;
#if defined(__x86_64__)
            if (lvl >= 2)
                bwd_probs_avx512(mb, nb, p, bc, c, mblk, mask_rs, mask_cs, lse2 + i0);
            else
#endif
                bwd_probs_portable(mb, nb, p, bc, c, mblk, mask_rs, mask_cs, lse2 + i0);
            tile_gemm(lvl, nb, dv, mb, p, 1, bc, dob, lddo, dvb, lddv, 1);     // dV += Pᵀ dO
            tile_gemm(lvl, mb, nb, dv, dob, lddo, 1, vt, bc, ds, bc, 0);       // dP = dO Vᵀ
            bwd_dscores(mb, nb, p, ds, bc, delta + i0, scale);                 // dS (scaled)
            tile_gemm(lvl, mb, d, nb, ds, bc, 1, k + j0 * ldk, ldk, dq + i0 * lddq, lddq, 1);
            tile_gemm(lvl, nb, d, mb, ds, 1, bc, qb, ldq, dkb, lddk, 1);       // dK += dSᵀ Q
        }
    }
    free(kt);
    free(vt);
    free(p);
    free(ds);
    return 0;
}
