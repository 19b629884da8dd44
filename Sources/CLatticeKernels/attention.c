// Fused attention kernels: tiled forward with online softmax and a FlashAttention-2 style
// backward that recomputes probabilities per tile. Memory is O(rows·d + tile), never nq×nk.
//
// Scores are kept in base-2 units (scale·log2(e) folded into one multiplier) so the softmax uses
// exp2, which a polynomial plus an exponent shift evaluates cheaply (no libm in inner loops).
// Tile products go through register-blocked micro-kernels (AVX-512 and AVX2 from one vector-type
// source; a portable loop with target_clones elsewhere) because the tiles are far too small for
// a general packed GEMM to pay off.
#include "lt_attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LT_LOG2E 1.4426950408889634f
// Keys per tile (forward and backward) and query rows per tile (backward). 64 keys keep the
// packed K^T panel (d×64) and the V panel (64×dv) in L1 for d = 64 while 6-row micro-tiles
// stream over them.
#define LT_ATTN_BC 64
#define LT_ATTN_BR_BWD 64
// The forward pass uses larger tiles (fewer online-softmax rescales per query row): key tiles
// are a multiple of the 6- and 12-row micro-kernels, query blocks of their 16-64 column widths.
// 256 query rows share each packed K/V tile (see lt_attn_fwd); 128 measured ~6% slower on AVX2.
#define LT_ATTN_BC_FWD 120
#define LT_ATTN_BR_FWD 256
// Floats of padding added to the row stride of the forward pass's packed tiles (see there).
#define LT_ATTN_PAD 8

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
                               int accumulate, const float *rs) {
    for (int64_t i = 0; i < M; i++) {
        float *restrict crow = C + i * ldc;
        if (!accumulate)
            for (int64_t c = 0; c < N; c++) crow[c] = 0.0f;
        else if (rs)
            for (int64_t c = 0; c < N; c++) crow[c] *= rs[i];
        for (int64_t p = 0; p < K; p++) {
            float a = A[i * ars + p * acs];
            const float *restrict brow = B + p * ldb;
            for (int64_t c = 0; c < N; c++) crow[c] += a * brow[c];
        }
    }
}

// x = scores·c + mask·log2(e) - sub_i, in place (the base-2 logits of one tile). `sub` may be
// NULL. Separate loops per mask column stride keep the common cases vectorised.
LT_CLONES
static void scores_to_log2(int64_t mb, int64_t nb, float *S, int64_t lds, float c,
                           const float *mask, int64_t mrs, int64_t mcs, const float *sub) {
    for (int64_t i = 0; i < mb; i++) {
        float *restrict s = S + i * lds;
        float b = sub ? sub[i] : 0.0f;
        if (!mask) {
            for (int64_t j = 0; j < nb; j++) s[j] = s[j] * c - b;
        } else if (mcs == 1) {
            const float *restrict mr = mask + i * mrs;
            for (int64_t j = 0; j < nb; j++) s[j] = s[j] * c + mr[j] * LT_LOG2E - b;
        } else {
            const float *mr = mask + i * mrs;
            for (int64_t j = 0; j < nb; j++) s[j] = s[j] * c + mr[j * mcs] * LT_LOG2E - b;
        }
    }
}

// The forward pass works on transposed score tiles S^T [keys × queries], so every reduction of
// the online softmax runs down columns: elementwise across queries, vectorised with no
// horizontal sums, and in the same order on every instruction set.

// S^T = S^T·c + mask^T·log2(e) for a masked tile (column i is query i, row j key j).
LT_CLONES
static void scores_to_log2_t(int64_t nb, int64_t mb, float *St, int64_t ld, float c,
                             const float *mask, int64_t mrs, int64_t mcs) {
    for (int64_t j = 0; j < nb; j++) {
        float *restrict s = St + j * ld;
        const float *mc = mask + j * mcs;
        for (int64_t i = 0; i < mb; i++) s[i] = s[i] * c + mc[i * mrs] * LT_LOG2E;
    }
}

// Folds a tile of base-2 logits (S^T·cmul) into each query's running max `m` and normaliser
// `l`; S^T is overwritten with P^T = 2^(x - m_new) and `alpha` receives 2^(m_old - m_new), the
// factor the query's output accumulator must be multiplied by. `base` is mb floats of scratch.
LT_CLONES
static void fwd_softmax_cols(int64_t nb, int64_t mb, float *St, int64_t ld, float cmul, float *m,
                             float *l, float *alpha, float *base) {
    for (int64_t i = 0; i < mb; i++) base[i] = -INFINITY;
    for (int64_t j = 0; j < nb; j++) {
        const float *restrict s = St + j * ld;
        for (int64_t i = 0; i < mb; i++) base[i] = s[i] > base[i] ? s[i] : base[i];
    }
    for (int64_t i = 0; i < mb; i++) {
        float rmax = base[i] * cmul;
        float mnew = m[i] > rmax ? m[i] : rmax;
        // All logits -inf so far: subtract 0 instead, so 2^(-inf) = 0 and no inf - inf NaN.
        float b = mnew == -INFINITY ? 0.0f : mnew;
        alpha[i] = lt_exp2_scalar(m[i] - b);  // 0 while m[i] is -inf
        l[i] *= alpha[i];
        m[i] = mnew;
        base[i] = b;
    }
    for (int64_t j = 0; j < nb; j++) {
        float *restrict s = St + j * ld;
        for (int64_t i = 0; i < mb; i++) {
            float e = lt_exp2_scalar(s[i] * cmul - base[i]);
            s[i] = e;
            l[i] += e;
        }
    }
}

// P = 2^x in place over a tile (x already holds logits minus the row's log-sum-exp).
LT_CLONES
static void exp2_rows(int64_t mb, int64_t nb, float *S, int64_t lds) {
    for (int64_t i = 0; i < mb; i++) {
        float *restrict s = S + i * lds;
        for (int64_t j = 0; j < nb; j++) s[j] = lt_exp2_scalar(s[j]);
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

// MARK: SIMD micro-kernels

// One source for every vector width: clang vector types compile to zmm under the AVX-512 target
// and to ymm under AVX2, so the AVX-512 kernels share the logic the AVX2 ones are tested with.
typedef float lt_v8 __attribute__((vector_size(32), aligned(4)));
typedef float lt_v16 __attribute__((vector_size(64), aligned(4)));

// C[mr×(NV·VW)] (+)= A·B for mr <= MR rows, with MR·NV vector accumulators held in registers.
// Rows beyond mr re-read the last valid row (never stored), so the loop body has no branches.
#define LT_DEFINE_MK_BODY(NAME, VT, VW)                                                        \
    LT_AI void NAME(const int MR, const int NV, int64_t mr, int64_t K, const float *A,         \
                    int64_t ars, int64_t acs, const float *B, int64_t ldb, float *C,           \
                    int64_t ldc, int accumulate, const float *rs) {                            \
        const float *ap[12];                                                                   \
        VT acc[12][4];                                                                         \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) ap[r] =                \
            A + (r < mr ? r : mr - 1) * ars;                                                   \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++)                        \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++) acc[r][v] =        \
                (accumulate && r < mr) ? *(const VT *)(C + r * ldc + VW * v) : (VT){0};        \
        if (rs)                                                                                \
            _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++)                    \
                _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++) acc[r][v] *=   \
                    rs[r < mr ? r : mr - 1];                                                   \
        for (int64_t p = 0; p < K; p++) {                                                      \
            const float *bp = B + p * ldb;                                                     \
            int64_t off = p * acs;                                                             \
            VT b[4];                                                                           \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++) b[v] =             \
                *(const VT *)(bp + VW * v);                                                    \
            _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) {                  \
                VT a = -(VT){0} + ap[r][off]; /* -0 + x == x: folds to a broadcast */         \
                _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++) acc[r][v] =    \
                    __builtin_elementwise_fma(a, b[v], acc[r][v]);                             \
            }                                                                                  \
        }                                                                                      \
        _Pragma("clang loop unroll(full)") for (int r = 0; r < MR; r++) if (r < mr)            \
            _Pragma("clang loop unroll(full)") for (int v = 0; v < NV; v++)                    \
                *(VT *)(C + r * ldc + VW * v) = acc[r][v];                                     \
    }

typedef void (*lt_mk_fn)(int64_t mr, int64_t K, const float *A, int64_t ars, int64_t acs,
                         const float *B, int64_t ldb, float *C, int64_t ldc, int accumulate,
                         const float *rs);

/// A micro-kernel: `rows` × `width` output block.
typedef struct {
    lt_mk_fn fn;
    int64_t rows;
    int64_t width;
} lt_mk;

#define LT_DEFINE_MK(NAME, TARGET, BODY, MR, NV)                                               \
    TARGET static void NAME(int64_t mr, int64_t K, const float *A, int64_t ars, int64_t acs,   \
                            const float *B, int64_t ldb, float *C, int64_t ldc,                \
                            int accumulate, const float *rs) {                                 \
        BODY(MR, NV, mr, K, A, ars, acs, B, ldb, C, ldc, accumulate, rs);                      \
    }

#if defined(__x86_64__)
LT_DEFINE_MK_BODY(mk_body_v16, lt_v16, 16)
LT_DEFINE_MK_BODY(mk_body_v8, lt_v8, 8)
// AVX-512: 32 zmm registers hold 24 accumulators plus operands.
LT_DEFINE_MK(mk512_6x64, LT_TARGET_AVX512, mk_body_v16, 6, 4)
LT_DEFINE_MK(mk512_12x32, LT_TARGET_AVX512, mk_body_v16, 12, 2)
LT_DEFINE_MK(mk512_12x16, LT_TARGET_AVX512, mk_body_v16, 12, 1)
// AVX2: 16 ymm registers hold 12 accumulators, 2 B vectors and the broadcast A value.
LT_DEFINE_MK(mk256_6x16, LT_TARGET_AVX2, mk_body_v8, 6, 2)
LT_DEFINE_MK(mk256_12x8, LT_TARGET_AVX2, mk_body_v8, 12, 1)

static const lt_mk lt_mk_avx512[] = {
    {mk512_6x64, 6, 64}, {mk512_12x32, 12, 32}, {mk512_12x16, 12, 16}};
static const lt_mk lt_mk_avx2[] = {{mk256_6x16, 6, 16}, {mk256_12x8, 12, 8}};
#endif

// Covers the N columns with the widest micro-kernel that fits; a remainder narrower than the
// smallest kernel goes through the portable loop.
static void tile_gemm_simd(const lt_mk *ks, int nks, int64_t M, int64_t N, int64_t K,
                           const float *A, int64_t ars, int64_t acs, const float *B, int64_t ldb,
                           float *C, int64_t ldc, int accumulate, const float *rs) {
    int64_t j = 0;
    while (j < N) {
        const lt_mk *mk = NULL;
        for (int t = 0; t < nks && !mk; t++)
            if (ks[t].width <= N - j) mk = &ks[t];
        if (!mk) {
            tile_gemm_portable(M, N - j, K, A, ars, acs, B + j, ldb, C + j, ldc, accumulate, rs);
            return;
        }
        for (int64_t i = 0; i < M; i += mk->rows)
            mk->fn(M - i < mk->rows ? M - i : mk->rows, K, A + i * ars, ars, acs, B + j, ldb,
                   C + i * ldc + j, ldc, accumulate, rs ? rs + i : NULL);
        j += mk->width;
    }
}

// MARK: dispatch

// C (+)= A·B; with `accumulate` and a non-NULL `rs`, C's row i is first multiplied by rs[i]
// (the online-softmax rescale of the output accumulator, applied for free while it is loaded).
static void tile_gemm(int lvl, int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                      int64_t acs, const float *B, int64_t ldb, float *C, int64_t ldc,
                      int accumulate, const float *rs) {
    if (M <= 0 || N <= 0) return;
#if defined(__x86_64__)
    if (lvl >= 2) {
        tile_gemm_simd(lt_mk_avx512, 3, M, N, K, A, ars, acs, B, ldb, C, ldc, accumulate, rs);
        return;
    }
    if (lvl == 1) {
        tile_gemm_simd(lt_mk_avx2, 2, M, N, K, A, ars, acs, B, ldb, C, ldc, accumulate, rs);
        return;
    }
#endif
    (void)lvl;
    tile_gemm_portable(M, N, K, A, ars, acs, B, ldb, C, ldc, accumulate, rs);
}

void lt_attn_tile_gemm(int64_t M, int64_t N, int64_t K, const float *A, int64_t ars,
                       int64_t acs, const float *B, int64_t ldb, float *C, int64_t ldc,
                       int accumulate) {
    tile_gemm(lt_cpu_level(), M, N, K, A, ars, acs, B, ldb, C, ldc, accumulate, NULL);
}

void lt_attn_exp2(float *x, int64_t n) { lt_exp2_portable(x, n); }

// Packs rows [0, nb) of a row-major block X (nb×d, stride ldx) transposed into T (d×ldt).
static void pack_transposed(int64_t nb, int64_t d, const float *X, int64_t ldx, float *T,
                            int64_t ldt) {
    for (int64_t j = 0; j < nb; j++) {
        const float *row = X + j * ldx;
        for (int64_t p = 0; p < d; p++) T[p * ldt + j] = row[p];
    }
}

int lt_attn_fwd(int64_t nq, int64_t nk, int64_t d, int64_t dv, float scale, const float *q,
                int64_t ldq, const float *k, int64_t ldk, const float *v, int64_t ldv,
                const float *mask, int64_t mask_rs, int64_t mask_cs, float *o, int64_t ldo,
                float *lse2) {
    const int lvl = lt_cpu_level();
    const int64_t br = LT_ATTN_BR_FWD, bc = LT_ATTN_BC_FWD;
    // Padded row stride of the Q^T and S^T tiles: a power-of-two stride would map a whole
    // column of the tile (read by the micro-kernels down its rows) onto a few L1 sets.
    const int64_t ldt = br + LT_ATTN_PAD;
    float *qt = lt_attn_alloc((size_t)(d * ldt));
    float *st = lt_attn_alloc((size_t)(bc * ldt));
    float *stats = lt_attn_alloc((size_t)(4 * br));
    // K and V tiles are copied to dense buffers. Read in place, a row stride of 64·2^k floats
    // (a fused qkv projection read as [B, N, H, D]) maps the rows a micro-kernel walks down onto
    // a few L1 sets; the strided qkv case ran ~1.3x slower. V rows are also padded: at ldv = 64
    // the 16-column strip of the P·V product spans 16 sets, and cachegrind shows 3x its L1
    // misses. K rows need no padding (each micro-kernel reads 6 rows). The copies (a few % of
    // the time, as K/V stream from L3) are amortised over the 256-row query block.
    const int64_t ldkp = (d + 7) & ~(int64_t)7;
    const int64_t ldvp = ((dv + 7) & ~(int64_t)7) + LT_ATTN_PAD;
    float *kp = lt_attn_alloc((size_t)(bc * ldkp));
    float *vp = lt_attn_alloc((size_t)(bc * ldvp));
    if (!qt || !st || !stats || !kp || !vp) {
        free(qt);
        free(st);
        free(stats);
        free(kp);
        free(vp);
        return -1;
    }
    float *m = stats, *l = stats + br, *alpha = stats + 2 * br, *base = stats + 3 * br;
    const float c = scale * LT_LOG2E;
    // Without a mask the base-2 scaling folds into the softmax pass (max commutes with a
    // positive factor), saving a sweep over the score tile.
    const int fold = !mask && c > 0.0f;

    for (int64_t i0 = 0; i0 < nq; i0 += br) {
        int64_t mb = nq - i0 < br ? nq - i0 : br;
        for (int64_t i = 0; i < mb; i++) {
            m[i] = -INFINITY;
            l[i] = 0.0f;
            memset(o + (i0 + i) * ldo, 0, (size_t)dv * sizeof(float));
        }
        // Q^T of this block [d, br], packed once and reused by every key tile.
        pack_transposed(mb, d, q + i0 * ldq, ldq, qt, ldt);
        for (int64_t j0 = 0; j0 < nk; j0 += bc) {
            int64_t nb = nk - j0 < bc ? nk - j0 : bc;
            for (int64_t j = 0; j < nb; j++)
                memcpy(kp + j * ldkp, k + (j0 + j) * ldk, (size_t)d * sizeof(float));
            tile_gemm(lvl, nb, mb, d, kp, ldkp, 1, qt, ldt, st, ldt, 0, NULL);  // S^T [nb, mb]
            if (!fold)
                scores_to_log2_t(nb, mb, st, ldt, c, mask + i0 * mask_rs + j0 * mask_cs, mask_rs,
                                 mask_cs);
            fwd_softmax_cols(nb, mb, st, ldt, fold ? c : 1.0f, m, l, alpha, base);
            // O = alpha·O + P·V (P read transposed from S^T), the rescale applied as the
            // accumulator is loaded.
            for (int64_t j = 0; j < nb; j++)
                memcpy(vp + j * ldvp, v + (j0 + j) * ldv, (size_t)dv * sizeof(float));
            tile_gemm(lvl, mb, dv, nb, st, 1, ldt, vp, ldvp, o + i0 * ldo, ldo, 1, alpha);
        }
        for (int64_t i = 0; i < mb; i++) {
            // A row with no finite score has l = 0: define its output as 0 (see header).
            float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
            alpha[i] = inv;
            lse2[i0 + i] = l[i] > 0.0f ? m[i] + log2f(l[i]) : INFINITY;
        }
        scale_rows(mb, dv, o + i0 * ldo, ldo, alpha);
    }
    free(qt);
    free(st);
    free(stats);
    free(kp);
    free(vp);
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
    // Q blocks are copied to a padded buffer: dK += dSᵀ·Q walks a 16-column strip of Q down its
    // rows, and a fused qkv projection's row stride (3·64·2^k floats) puts them all in one L1 set
    // (the strided case ran ~1.45x slower than contiguous Q).
    const int64_t ldqp = ((d + 7) & ~(int64_t)7) + LT_ATTN_PAD;
    float *qp = lt_attn_alloc((size_t)(br * ldqp));
    // The K tile, read row-major by dQ += dS·K, likewise (once per key tile).
    float *kr = lt_attn_alloc((size_t)(bc * ldqp));
    if (!kt || !vt || !p || !ds || !qp || !kr) {
        free(kt);
        free(vt);
        free(p);
        free(ds);
        free(qp);
        free(kr);
        return -1;
    }
    const float c = scale * LT_LOG2E;

    for (int64_t j0 = 0; j0 < nk; j0 += bc) {
        int64_t nb = nk - j0 < bc ? nk - j0 : bc;
        pack_transposed(nb, d, k + j0 * ldk, ldk, kt, bc);
        pack_transposed(nb, dv, v + j0 * ldv, ldv, vt, bc);
        for (int64_t j = 0; j < nb; j++)
            memcpy(kr + j * ldqp, k + (j0 + j) * ldk, (size_t)d * sizeof(float));
        float *dkb = dk + j0 * lddk, *dvb = dvout + j0 * lddv;
        for (int64_t j = 0; j < nb; j++) {
            memset(dkb + j * lddk, 0, (size_t)d * sizeof(float));
            memset(dvb + j * lddv, 0, (size_t)dv * sizeof(float));
        }
        for (int64_t i0 = 0; i0 < nq; i0 += br) {
            int64_t mb = nq - i0 < br ? nq - i0 : br;
            const float *dob = dout + i0 * lddo;
            for (int64_t i = 0; i < mb; i++)
                memcpy(qp + i * ldqp, q + (i0 + i) * ldq, (size_t)d * sizeof(float));
            const float *qb = qp;
            tile_gemm(lvl, mb, nb, d, qb, ldqp, 1, kt, bc, p, bc, 0, NULL);  // S [mb, nb]
            const float *mblk = mask ? mask + i0 * mask_rs + j0 * mask_cs : NULL;
            scores_to_log2(mb, nb, p, bc, c, mblk, mask_rs, mask_cs, lse2 + i0);
            exp2_rows(mb, nb, p, bc);
            tile_gemm(lvl, nb, dv, mb, p, 1, bc, dob, lddo, dvb, lddv, 1, NULL);     // dV += Pᵀ dO
            tile_gemm(lvl, mb, nb, dv, dob, lddo, 1, vt, bc, ds, bc, 0, NULL);       // dP = dO Vᵀ
            bwd_dscores(mb, nb, p, ds, bc, delta + i0, scale);                 // dS (scaled)
            tile_gemm(lvl, mb, d, nb, ds, bc, 1, kr, ldqp, dq + i0 * lddq, lddq, 1, NULL);
            tile_gemm(lvl, nb, d, mb, ds, 1, bc, qb, ldqp, dkb, lddk, 1, NULL);       // dK += dSᵀ Q
        }
    }
    free(kt);
    free(vt);
    free(p);
    free(ds);
    free(qp);
    free(kr);
    return 0;
}
