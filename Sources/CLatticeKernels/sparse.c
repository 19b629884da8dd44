// Indirect GEMM for sparse convolutions (see lt_sparse.h). The AVX-512 kernel keeps a 6×64
// output tile in 24 registers (the AVX2 one a 6×16 tile in 12): per input channel it loads one 64-wide weight row and
// broadcasts one value of each of the 6 gathered input rows, so input rows are read in place.
#include "lt_sparse.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

LT_CLONES void lt_sparse_gather_gemm_scatter_portable(const float *in, int64_t ldi,
                                                      const int32_t *src, const int32_t *dst,
                                                      int64_t np, const float *w, int64_t ldw,
                                                      int64_t k, int64_t n, float *out,
                                                      int64_t ldo) {
    for (int64_t p = 0; p < np; p++) {
        const float *a = in + (int64_t)src[p] * ldi;
        float *o = out + (int64_t)dst[p] * ldo;
        for (int64_t c = 0; c < k; c++) {
            const float av = a[c];
            const float *wr = w + c * ldw;
            for (int64_t j = 0; j < n; j++) o[j] += av * wr[j];
        }
    }
}

#if defined(__x86_64__)
LT_TARGET_AVX512 static inline __mmask16 lt_tail_mask(int64_t rem) {
    return rem >= 16 ? (__mmask16)0xFFFF : rem <= 0 ? (__mmask16)0 : (__mmask16)((1u << rem) - 1);
}

#define LT_ROW_FMA(r, av)                                  \
    do {                                                   \
        const __m512 b_ = _mm512_set1_ps(av);              \
        acc[r][0] = _mm512_fmadd_ps(b_, w0, acc[r][0]);    \
        acc[r][1] = _mm512_fmadd_ps(b_, w1, acc[r][1]);    \
        acc[r][2] = _mm512_fmadd_ps(b_, w2, acc[r][2]);    \
        acc[r][3] = _mm512_fmadd_ps(b_, w3, acc[r][3]);    \
    } while (0)

LT_TARGET_AVX512 static void lt_ggs_avx512(const float *in, int64_t ldi, const int32_t *src,
                                           const int32_t *dst, int64_t np, const float *w,
                                           int64_t ldw, int64_t k, int64_t n, float *out,
                                           int64_t ldo) {
    for (int64_t j0 = 0; j0 < n; j0 += 64) {
        const int64_t nj = n - j0;
        const __mmask16 m0 = lt_tail_mask(nj), m1 = lt_tail_mask(nj - 16),
                        m2 = lt_tail_mask(nj - 32), m3 = lt_tail_mask(nj - 48);
        const float *wb = w + j0;
        int64_t p = 0;
        for (; p + 6 <= np; p += 6) {
            const float *a0 = in + (int64_t)src[p] * ldi, *a1 = in + (int64_t)src[p + 1] * ldi,
                        *a2 = in + (int64_t)src[p + 2] * ldi, *a3 = in + (int64_t)src[p + 3] * ldi,
                        *a4 = in + (int64_t)src[p + 4] * ldi, *a5 = in + (int64_t)src[p + 5] * ldi;
            __m512 acc[6][4];
            for (int r = 0; r < 6; r++)
                for (int q = 0; q < 4; q++) acc[r][q] = _mm512_setzero_ps();
            const float *wr = wb;
            for (int64_t c = 0; c < k; c++, wr += ldw) {
                const __m512 w0 = _mm512_maskz_loadu_ps(m0, wr), w1 = _mm512_maskz_loadu_ps(m1, wr + 16),
                             w2 = _mm512_maskz_loadu_ps(m2, wr + 32),
                             w3 = _mm512_maskz_loadu_ps(m3, wr + 48);
                LT_ROW_FMA(0, a0[c]);
                LT_ROW_FMA(1, a1[c]);
                LT_ROW_FMA(2, a2[c]);
                LT_ROW_FMA(3, a3[c]);
                LT_ROW_FMA(4, a4[c]);
                LT_ROW_FMA(5, a5[c]);
            }
            for (int r = 0; r < 6; r++) {
                float *o = out + (int64_t)dst[p + r] * ldo + j0;
                _mm512_mask_storeu_ps(o, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, o), acc[r][0]));
                _mm512_mask_storeu_ps(o + 16, m1,
                                      _mm512_add_ps(_mm512_maskz_loadu_ps(m1, o + 16), acc[r][1]));
                _mm512_mask_storeu_ps(o + 32, m2,
                                      _mm512_add_ps(_mm512_maskz_loadu_ps(m2, o + 32), acc[r][2]));
                _mm512_mask_storeu_ps(o + 48, m3,
                                      _mm512_add_ps(_mm512_maskz_loadu_ps(m3, o + 48), acc[r][3]));
            }
        }
        for (; p < np; p++) {
            const float *a0 = in + (int64_t)src[p] * ldi;
            __m512 acc[1][4] = {{_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                                 _mm512_setzero_ps()}};
            const float *wr = wb;
            for (int64_t c = 0; c < k; c++, wr += ldw) {
                const __m512 w0 = _mm512_maskz_loadu_ps(m0, wr), w1 = _mm512_maskz_loadu_ps(m1, wr + 16),
                             w2 = _mm512_maskz_loadu_ps(m2, wr + 32),
                             w3 = _mm512_maskz_loadu_ps(m3, wr + 48);
                LT_ROW_FMA(0, a0[c]);
            }
            float *o = out + (int64_t)dst[p] * ldo + j0;
            _mm512_mask_storeu_ps(o, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, o), acc[0][0]));
            _mm512_mask_storeu_ps(o + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, o + 16), acc[0][1]));
            _mm512_mask_storeu_ps(o + 32, m2, _mm512_add_ps(_mm512_maskz_loadu_ps(m2, o + 32), acc[0][2]));
            _mm512_mask_storeu_ps(o + 48, m3, _mm512_add_ps(_mm512_maskz_loadu_ps(m3, o + 48), acc[0][3]));
        }
    }
}
#undef LT_ROW_FMA

// AVX2: 16 ymm registers hold a 6-row × 16-column tile (12 accumulators, 2 weight vectors, one
// broadcast). Column tails use maskload/maskstore.
LT_TARGET_AVX2 static inline __m256i lt_tail_mask8(int64_t rem) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int r = rem >= 8 ? 8 : rem <= 0 ? 0 : (int)rem;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), lanes);
}

#define LT_ROW_FMA2(r, av)                                 \
    do {                                                   \
        const __m256 b_ = _mm256_broadcast_ss(av);         \
        acc##r##0 = _mm256_fmadd_ps(b_, w0, acc##r##0);    \
        acc##r##1 = _mm256_fmadd_ps(b_, w1, acc##r##1);    \
    } while (0)

#define LT_ROW_STORE2(r)                                                              \
    do {                                                                              \
        float *o_ = o[r] + j0;                                                        \
        _mm256_maskstore_ps(o_, m0, _mm256_add_ps(_mm256_maskload_ps(o_, m0), acc##r##0)); \
        _mm256_maskstore_ps(o_ + 8, m1,                                               \
                            _mm256_add_ps(_mm256_maskload_ps(o_ + 8, m1), acc##r##1)); \
    } while (0)

// One 6-pair × 16-column tile; `full` (a constant after inlining) selects plain loads, since
// maskload costs an extra ALU uop that competes with the FMAs.
LT_TARGET_AVX2 static inline __attribute__((always_inline)) void
lt_ggs_avx2_tile6(const float *const *a, float *const *o, int64_t j0, const float *wb,
                  int64_t ldw, int64_t k, __m256i m0, __m256i m1, const int full) {
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
    __m256 acc00 = _mm256_setzero_ps(), acc01 = _mm256_setzero_ps();
    __m256 acc10 = _mm256_setzero_ps(), acc11 = _mm256_setzero_ps();
    __m256 acc20 = _mm256_setzero_ps(), acc21 = _mm256_setzero_ps();
    __m256 acc30 = _mm256_setzero_ps(), acc31 = _mm256_setzero_ps();
    __m256 acc40 = _mm256_setzero_ps(), acc41 = _mm256_setzero_ps();
    __m256 acc50 = _mm256_setzero_ps(), acc51 = _mm256_setzero_ps();
    const float *wr = wb;
    for (int64_t c = 0; c < k; c++, wr += ldw) {
        const __m256 w0 = full ? _mm256_loadu_ps(wr) : _mm256_maskload_ps(wr, m0),
                     w1 = full ? _mm256_loadu_ps(wr + 8) : _mm256_maskload_ps(wr + 8, m1);
        LT_ROW_FMA2(0, a0 + c);
        LT_ROW_FMA2(1, a1 + c);
        LT_ROW_FMA2(2, a2 + c);
        LT_ROW_FMA2(3, a3 + c);
        LT_ROW_FMA2(4, a4 + c);
        LT_ROW_FMA2(5, a5 + c);
    }
    LT_ROW_STORE2(0);
    LT_ROW_STORE2(1);
    LT_ROW_STORE2(2);
    LT_ROW_STORE2(3);
    LT_ROW_STORE2(4);
    LT_ROW_STORE2(5);
}

// Pair blocks outside, column strips inside: the 6 gathered input rows and the output rows of
// a block stay in L1 while every strip reuses them (so does the k×n weight panel), and the next
// block's input rows are prefetched while this one computes.
LT_TARGET_AVX2 static void lt_ggs_avx2(const float *in, int64_t ldi, const int32_t *src,
                                       const int32_t *dst, int64_t np, const float *w, int64_t ldw,
                                       int64_t k, int64_t n, float *out, int64_t ldo) {
    const int64_t nfull = n & ~(int64_t)15;
    const __m256i mt0 = lt_tail_mask8(n - nfull), mt1 = lt_tail_mask8(n - nfull - 8);
    const __m256i ones = _mm256_set1_epi32(-1);
    int64_t p = 0;
    for (; p + 6 <= np; p += 6) {
        if (p + 12 <= np)
            for (int r = 6; r < 12; r++) {
                const char *nx = (const char *)(in + (int64_t)src[p + r] * ldi);
                for (int64_t b = 0; b < k * 4; b += 64) _mm_prefetch(nx + b, _MM_HINT_T0);
            }
        const float *a[6];
        float *o[6];
        for (int r = 0; r < 6; r++) {
            a[r] = in + (int64_t)src[p + r] * ldi;
            o[r] = out + (int64_t)dst[p + r] * ldo;
        }
        int64_t j0 = 0;
        for (; j0 < nfull; j0 += 16) lt_ggs_avx2_tile6(a, o, j0, w + j0, ldw, k, ones, ones, 1);
        if (j0 < n) lt_ggs_avx2_tile6(a, o, j0, w + j0, ldw, k, mt0, mt1, 0);
    }
    // Fewer than 6 pairs left: one pair at a time, in order (dst rows may repeat).
    for (; p < np; p++) {
        const float *a0 = in + (int64_t)src[p] * ldi;
        for (int64_t j0 = 0; j0 < n; j0 += 16) {
            const __m256i m0 = lt_tail_mask8(n - j0), m1 = lt_tail_mask8(n - j0 - 8);
            __m256 acc00 = _mm256_setzero_ps(), acc01 = _mm256_setzero_ps();
            const float *wr = w + j0;
            for (int64_t c = 0; c < k; c++, wr += ldw) {
                const __m256 w0 = _mm256_maskload_ps(wr, m0), w1 = _mm256_maskload_ps(wr + 8, m1);
                LT_ROW_FMA2(0, a0 + c);
            }
            float *o_ = out + (int64_t)dst[p] * ldo + j0;
            _mm256_maskstore_ps(o_, m0, _mm256_add_ps(_mm256_maskload_ps(o_, m0), acc00));
            _mm256_maskstore_ps(o_ + 8, m1, _mm256_add_ps(_mm256_maskload_ps(o_ + 8, m1), acc01));
        }
    }
}
#undef LT_ROW_FMA2
#undef LT_ROW_STORE2
#endif

void lt_sparse_gather_gemm_scatter(const float *in, int64_t ldi, const int32_t *src,
                                   const int32_t *dst, int64_t np, const float *w, int64_t ldw,
                                   int64_t k, int64_t n, float *out, int64_t ldo) {
#if defined(__x86_64__)
    if (lt_cpu_level() >= 2) {
        lt_ggs_avx512(in, ldi, src, dst, np, w, ldw, k, n, out, ldo);
        return;
    }
    if (lt_cpu_level() >= 1) {
        lt_ggs_avx2(in, ldi, src, dst, np, w, ldw, k, n, out, ldo);
        return;
    }
#endif
    lt_sparse_gather_gemm_scatter_portable(in, ldi, src, dst, np, w, ldw, k, n, out, ldo);
}
