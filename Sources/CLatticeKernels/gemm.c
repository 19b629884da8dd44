// SGEMM: a blocked, packed Goto/BLIS loop nest with per-ISA micro-kernels (AVX-512 12x32,
// AVX2+FMA 6x16, portable 6x8), and its naive twin used by tests.
//
// Loop nest (row-major C = op(A)·op(B)):
//   ic over M in MC rows      -> pack A block (MC x KC, alpha folded in) into MR-row panels
//   pc over K in KC           (inside ic, so each A block is packed once)
//   jc over N in NC columns   -> pack B block (KC x NC) into NR-column panels (stays in L2),
//                                or read it from a B packed once for all threads
//                                (lt_sgemm_pack_b / lt_sgemm_packed)
//   ir over MR rows           -> the A micro-panel (MR x KC) stays in L1
//   jr over NR columns        -> micro-kernel streams B micro-panels from L2
// Edge tiles run the same kernel on a scratch tile. M == 1 or N == 1 (matrix-vector) skip
// packing. Every C element is accumulated in the same order whatever sub-block of C a call
// computes, so splitting C across threads (Gemm.swift) gives bit-identical results to one call.
#include "lt_gemm.h"

#include "lt_convert.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

// ---------------------------------------------------------------------------------------------
// Blocking. KC x NR floats of B and MR x KC of A per micro-kernel call; KC and NC are split
// evenly (see lt_even_split) so remainders do not produce a thin last block.

#ifndef LT_KC
#define LT_KC 384
#endif
#ifndef LT_MC
#define LT_MC 1536
#endif
#ifndef LT_NC
#define LT_NC 480
#endif
enum { LT_MR_MAX = 12, LT_NR_MAX = 32 };

/// Full MR x NR tile: c[i, j] = acc + beta * c[i, j] (beta == 0: c is not read).
typedef void (*lt_sgemm_kernel)(int64_t kc, const float *a, const float *b, float *c,
                                 int64_t ldc, float beta);

// ---------------------------------------------------------------------------------------------
// Micro-kernels.

#if defined(__x86_64__)

#define LT_K512_ROW(i)                                                                         \
    {                                                                                          \
        __m512 av = _mm512_set1_ps(a[i]);                                                      \
        c##i##0 = _mm512_fmadd_ps(av, b0, c##i##0);                                            \
        c##i##1 = _mm512_fmadd_ps(av, b1, c##i##1);                                            \
    }
#define LT_K512_STORE(i)                                                                       \
    {                                                                                          \
        float *r = c + (i) * ldc;                                                              \
        if (beta == 0.0f) {                                                                    \
            _mm512_storeu_ps(r, c##i##0);                                                      \
            _mm512_storeu_ps(r + 16, c##i##1);                                                 \
        } else if (beta == 1.0f) {                                                             \
            _mm512_storeu_ps(r, _mm512_add_ps(_mm512_loadu_ps(r), c##i##0));                   \
            _mm512_storeu_ps(r + 16, _mm512_add_ps(_mm512_loadu_ps(r + 16), c##i##1));         \
        } else {                                                                               \
            __m512 bv = _mm512_set1_ps(beta);                                                  \
            _mm512_storeu_ps(r, _mm512_fmadd_ps(bv, _mm512_loadu_ps(r), c##i##0));             \
            _mm512_storeu_ps(r + 16, _mm512_fmadd_ps(bv, _mm512_loadu_ps(r + 16), c##i##1));   \
        }                                                                                      \
    }

LT_TARGET_AVX512 static void lt_kernel_avx512_12x32(int64_t kc, const float *a, const float *b,
                                                    float *c, int64_t ldc, float beta) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    __m512 c60 = c00, c61 = c00, c70 = c00, c71 = c00, c80 = c00, c81 = c00;
    __m512 c90 = c00, c91 = c00, c100 = c00, c101 = c00, c110 = c00, c111 = c00;
    for (int64_t i = 0; i < 12; i++) _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    for (int64_t p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b);
        __m512 b1 = _mm512_loadu_ps(b + 16);
        _mm_prefetch((const char *)(b + 512), _MM_HINT_T0);
        LT_K512_ROW(0) LT_K512_ROW(1) LT_K512_ROW(2) LT_K512_ROW(3)
        LT_K512_ROW(4) LT_K512_ROW(5) LT_K512_ROW(6) LT_K512_ROW(7)
        LT_K512_ROW(8) LT_K512_ROW(9) LT_K512_ROW(10) LT_K512_ROW(11)
        a += 12;
        b += 32;
    }
    LT_K512_STORE(0) LT_K512_STORE(1) LT_K512_STORE(2) LT_K512_STORE(3)
    LT_K512_STORE(4) LT_K512_STORE(5) LT_K512_STORE(6) LT_K512_STORE(7)
    LT_K512_STORE(8) LT_K512_STORE(9) LT_K512_STORE(10) LT_K512_STORE(11)
}

#define LT_K256_ROW(i)                                                                         \
    {                                                                                          \
        __m256 av = _mm256_broadcast_ss(a + (i));                                              \
        c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);                                            \
        c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);                                            \
    }
#define LT_K256_STORE(i)                                                                       \
    {                                                                                          \
        float *r = c + (i) * ldc;                                                              \
        if (beta == 0.0f) {                                                                    \
            _mm256_storeu_ps(r, c##i##0);                                                      \
            _mm256_storeu_ps(r + 8, c##i##1);                                                  \
        } else if (beta == 1.0f) {                                                             \
            _mm256_storeu_ps(r, _mm256_add_ps(_mm256_loadu_ps(r), c##i##0));                   \
            _mm256_storeu_ps(r + 8, _mm256_add_ps(_mm256_loadu_ps(r + 8), c##i##1));           \
        } else {                                                                               \
            __m256 bv = _mm256_set1_ps(beta);                                                  \
            _mm256_storeu_ps(r, _mm256_fmadd_ps(bv, _mm256_loadu_ps(r), c##i##0));             \
            _mm256_storeu_ps(r + 8, _mm256_fmadd_ps(bv, _mm256_loadu_ps(r + 8), c##i##1));     \
        }                                                                                      \
    }

LT_TARGET_AVX2 static void lt_kernel_avx2_6x16(int64_t kc, const float *a, const float *b,
                                               float *c, int64_t ldc, float beta) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b);
        __m256 b1 = _mm256_loadu_ps(b + 8);
        LT_K256_ROW(0) LT_K256_ROW(1) LT_K256_ROW(2)
        LT_K256_ROW(3) LT_K256_ROW(4) LT_K256_ROW(5)
        a += 6;
        b += 16;
    }
    LT_K256_STORE(0) LT_K256_STORE(1) LT_K256_STORE(2)
    LT_K256_STORE(3) LT_K256_STORE(4) LT_K256_STORE(5)
}

#endif  // __x86_64__

// Portable 6x8 kernel with clang/gcc vector extensions (SSE2 on baseline x86, NEON on arm64).
typedef float lt_v4 __attribute__((vector_size(16)));
typedef float lt_v4u __attribute__((vector_size(16), aligned(4)));

static void lt_kernel_portable_6x8(int64_t kc, const float *a, const float *b, float *c,
                                   int64_t ldc, float beta) {
    lt_v4 acc[6][2];
    for (int i = 0; i < 6; i++) acc[i][0] = acc[i][1] = (lt_v4){0, 0, 0, 0};
    for (int64_t p = 0; p < kc; p++) {
        lt_v4 b0 = *(const lt_v4u *)b;
        lt_v4 b1 = *(const lt_v4u *)(b + 4);
        for (int i = 0; i < 6; i++) {
            lt_v4 av = (lt_v4){a[i], a[i], a[i], a[i]};
            acc[i][0] += av * b0;
            acc[i][1] += av * b1;
        }
        a += 6;
        b += 8;
    }
    for (int i = 0; i < 6; i++) {
        lt_v4u *r = (lt_v4u *)(c + i * ldc);
        for (int h = 0; h < 2; h++) {
            if (beta == 0.0f) r[h] = acc[i][h];
            else if (beta == 1.0f) r[h] = r[h] + acc[i][h];
            else r[h] = acc[i][h] + beta * r[h];
        }
    }
}

typedef struct {
    int mr, nr;
    lt_sgemm_kernel kernel;
    int avx2;  // the packing routines may use AVX2
} lt_sgemm_isa;

static lt_sgemm_isa lt_sgemm_pick(int level) {
#if defined(__x86_64__)
    switch (level) {
    case 2: return (lt_sgemm_isa){12, 32, lt_kernel_avx512_12x32, 1};
    case 1: return (lt_sgemm_isa){6, 16, lt_kernel_avx2_6x16, 1};
    default: break;
    }
#endif
    return (lt_sgemm_isa){6, 8, lt_kernel_portable_6x8, 0};
}

// ---------------------------------------------------------------------------------------------
// Packing. A panels: for each p, MR consecutive rows (times alpha). B panels: for each p, NR
// consecutive columns. Partial panels are zero-padded so the kernel always runs full tiles.

#if defined(__x86_64__)
/// o[q·ldo + i] = s[i·lds + q] for an 8x8 block.
LT_TARGET_AVX2 static inline void lt_transpose8x8_avx2(const float *s, int64_t lds, float *o,
                                                       int64_t ldo) {
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + lds);
    __m256 r2 = _mm256_loadu_ps(s + 2 * lds), r3 = _mm256_loadu_ps(s + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(s + 4 * lds), r5 = _mm256_loadu_ps(s + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(s + 6 * lds), r7 = _mm256_loadu_ps(s + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(o, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(o + ldo, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(o + 2 * ldo, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(o + 3 * ldo, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(o + 4 * ldo, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(o + 5 * ldo, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(o + 6 * ldo, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(o + 7 * ldo, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// One full panel of a transposed B (source rows j0..j0+nr, each reading kc consecutive floats):
// 8x8 register transposes instead of strided scalar stores (about 1.5x faster).
LT_TARGET_AVX2 static void lt_pack_b_trans_panel_avx2(const float *B, int64_t ldb, int64_t p0,
                                                      int64_t kc, int64_t j0, int nr,
                                                      float *d) {
    // 16 k-steps per row group use each source cache line whole while it is in L1 (rows ldb
    // apart often share a cache set).
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16)
        for (int jb = 0; jb < nr; jb += 8) {
            lt_transpose8x8_avx2(B + (j0 + jb) * ldb + p0 + p, ldb, d + p * nr + jb, nr);
            lt_transpose8x8_avx2(B + (j0 + jb) * ldb + p0 + p + 8, ldb, d + (p + 8) * nr + jb, nr);
        }
    for (; p + 8 <= kc; p += 8)
        for (int jb = 0; jb < nr; jb += 8)
            lt_transpose8x8_avx2(B + (j0 + jb) * ldb + p0 + p, ldb, d + p * nr + jb, nr);
    for (; p < kc; p++)
        for (int j = 0; j < nr; j++) d[p * nr + j] = B[(j0 + j) * ldb + p0 + p];
}
#endif

#if defined(__x86_64__)
/// Rows 0..11 of A (row-major, from column p0) into one 12-row panel, 8 k-steps at a time:
/// an 8x8 and two 4x4 register transposes.
LT_TARGET_AVX2 static inline void lt_pack_a12_block8(const float *s, int64_t lda, float *d) {
    lt_transpose8x8_avx2(s, lda, d, 12);
    for (int h = 0; h < 8; h += 4) {
        __m128 r0 = _mm_loadu_ps(s + 8 * lda + h), r1 = _mm_loadu_ps(s + 9 * lda + h);
        __m128 r2 = _mm_loadu_ps(s + 10 * lda + h), r3 = _mm_loadu_ps(s + 11 * lda + h);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(d + h * 12 + 8, r0);
        _mm_storeu_ps(d + (h + 1) * 12 + 8, r1);
        _mm_storeu_ps(d + (h + 2) * 12 + 8, r2);
        _mm_storeu_ps(d + (h + 3) * 12 + 8, r3);
    }
}

LT_TARGET_AVX2 static void lt_pack_a12_panel_avx2(const float *s, int64_t lda, int64_t kc,
                                                  float *d) {
    int64_t p = 0;
    // 16 k-steps per pass use each source cache line whole (see the B transpose).
    for (; p + 16 <= kc; p += 16) {
        lt_pack_a12_block8(s + p, lda, d + p * 12);
        lt_pack_a12_block8(s + p + 8, lda, d + (p + 8) * 12);
    }
    for (; p + 8 <= kc; p += 8) lt_pack_a12_block8(s + p, lda, d + p * 12);
    for (; p < kc; p++)
        for (int i = 0; i < 12; i++) d[p * 12 + i] = s[i * lda + p];
}
#endif

static void lt_pack_a(int transA, const float *A, int64_t lda, int64_t i0, int64_t mc,
                      int64_t p0, int64_t kc, float alpha, int mr, int avx2, float *dst) {
    for (int64_t ib = 0; ib < mc; ib += mr) {
        int64_t rows = mc - ib < mr ? mc - ib : mr;
        float *d = dst + ib * kc;
#if defined(__x86_64__)
        if (!transA && avx2 && mr == 12 && rows == 12 && alpha == 1.0f) {
            lt_pack_a12_panel_avx2(A + (i0 + ib) * lda + p0, lda, kc, d);
            continue;
        }
#else
        (void)avx2;
#endif
        if (!transA) {
            for (int64_t i = 0; i < rows; i++) {
                const float *s = A + (i0 + ib + i) * lda + p0;
                for (int64_t p = 0; p < kc; p++) d[p * mr + i] = alpha * s[p];
            }
            for (int64_t i = rows; i < mr; i++)
                for (int64_t p = 0; p < kc; p++) d[p * mr + i] = 0.0f;
        } else {
            for (int64_t p = 0; p < kc; p++) {
                const float *s = A + (p0 + p) * lda + i0 + ib;
                float *dp = d + p * mr;
                for (int64_t i = 0; i < rows; i++) dp[i] = alpha * s[i];
                for (int64_t i = rows; i < mr; i++) dp[i] = 0.0f;
            }
        }
    }
}

static void lt_pack_b(int transB, const float *B, int64_t ldb, int64_t p0, int64_t kc,
                      int64_t j0, int64_t nc, int nr, int avx2, float *dst) {
    for (int64_t jb = 0; jb < nc; jb += nr) {
        int64_t cols = nc - jb < nr ? nc - jb : nr;
        float *d = dst + jb * kc;
        if (!transB) {
            for (int64_t p = 0; p < kc; p++) {
                const float *s = B + (p0 + p) * ldb + j0 + jb;
                float *dp = d + p * nr;
                memcpy(dp, s, (size_t)cols * sizeof(float));
                for (int64_t j = cols; j < nr; j++) dp[j] = 0.0f;
            }
        } else {
#if defined(__x86_64__)
            if (avx2 && cols == nr && nr % 8 == 0) {
                lt_pack_b_trans_panel_avx2(B, ldb, p0, kc, j0 + jb, nr, d);
                continue;
            }
#else
            (void)avx2;
#endif
            // Blocks of 8 k-steps keep the strided writes within a few cache lines.
            int64_t p = 0;
            for (; p + 8 <= kc; p += 8) {
                float *dp = d + p * nr;
                for (int64_t j = 0; j < cols; j++) {
                    const float *s = B + (j0 + jb + j) * ldb + p0 + p;
                    for (int q = 0; q < 8; q++) dp[q * nr + j] = s[q];
                }
            }
            for (; p < kc; p++) {
                float *dp = d + p * nr;
                for (int64_t j = 0; j < cols; j++) dp[j] = B[(j0 + jb + j) * ldb + p0 + p];
            }
            if (cols < nr)
                for (int64_t q = 0; q < kc; q++)
                    for (int64_t j = cols; j < nr; j++) d[q * nr + j] = 0.0f;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Per-thread packing workspace: grown on demand, reused across calls, freed at thread exit.

// Slot 0 holds a thread's own A and B blocks; slot 1 a B operand packed once by a calling
// thread and shared with its workers (lt_sgemm_shared_workspace).
enum { LT_WS_SLOTS = 2 };
static pthread_key_t lt_ws_key;
static pthread_once_t lt_ws_once = PTHREAD_ONCE_INIT;
typedef struct {
    float *data[LT_WS_SLOTS];
    size_t capacity[LT_WS_SLOTS];  // floats
} lt_workspace;

static void lt_ws_free(void *p) {
    lt_workspace *ws = (lt_workspace *)p;
    if (ws)
        for (int i = 0; i < LT_WS_SLOTS; i++) free(ws->data[i]);
    free(ws);
}
static void lt_ws_init(void) { pthread_key_create(&lt_ws_key, lt_ws_free); }

static float *lt_workspace_get(int slot, size_t floats) {
    pthread_once(&lt_ws_once, lt_ws_init);
    lt_workspace *ws = (lt_workspace *)pthread_getspecific(lt_ws_key);
    if (!ws) {
        ws = (lt_workspace *)calloc(1, sizeof(lt_workspace));
        if (!ws) return NULL;
        pthread_setspecific(lt_ws_key, ws);
    }
    if (ws->capacity[slot] < floats) {
        free(ws->data[slot]);
        size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
        ws->data[slot] = (float *)aligned_alloc(64, bytes);
        ws->capacity[slot] = ws->data[slot] ? floats : 0;
    }
    return ws->data[slot];
}

// Shared packed B up to 16 MiB stays allocated per calling thread; larger ones are allocated
// for the call and freed by lt_sgemm_shared_release, so a single huge product does not pin
// its packed copy for the life of the thread.
enum { LT_SHARED_KEEP_FLOATS = 4 << 20 };

float *lt_sgemm_shared_workspace(size_t floats) {
    if (floats <= LT_SHARED_KEEP_FLOATS) return lt_workspace_get(1, floats);
    return (float *)aligned_alloc(64, (floats * sizeof(float) + 63) & ~(size_t)63);
}

void lt_sgemm_shared_release(float *buffer) {
    pthread_once(&lt_ws_once, lt_ws_init);
    lt_workspace *ws = (lt_workspace *)pthread_getspecific(lt_ws_key);
    if (buffer && (!ws || buffer != ws->data[1])) free(buffer);
}

/// Splits n into ceil(n / target) near-equal blocks, each a multiple of `align` (but the last).
static int64_t lt_even_split(int64_t n, int64_t target, int64_t align) {
    int64_t blocks = (n + target - 1) / target;
    int64_t size = (n + blocks - 1) / blocks;
    return (size + align - 1) / align * align;
}

static void lt_scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++) {
        float *r = C + i * ldc;
        if (beta == 0.0f) memset(r, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f)
            for (int64_t j = 0; j < N; j++) r[j] *= beta;
    }
}

// The loop nest. With `prepacked` non-NULL, B was packed by lt_sgemm_pack_b (layout: k-block
// by k-block, each holding all NR panels of N) and is only read; else B blocks are packed here.
static void lt_sgemm_driver(lt_sgemm_isa isa, int transA, int transB, int64_t M, int64_t N,
                            int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                            int64_t ldb, const float *prepacked, float beta, float *C,
                            int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        lt_scale_c(M, N, beta, C, ldc);
        return;
    }
    const int mr = isa.mr, nr = isa.nr;
    const int64_t kcMax = lt_even_split(K, LT_KC, 4);
    const int64_t mcMax = lt_even_split(M, LT_MC, mr);
    const int64_t ncMax = lt_even_split(N, LT_NC, nr);
    const int64_t mcPad = (mcMax + mr - 1) / mr * mr;
    const int64_t ncPad = (ncMax + nr - 1) / nr * nr;
    const int64_t nPad = (N + nr - 1) / nr * nr;
    float *packA = lt_workspace_get(0, (size_t)(mcPad * kcMax + (prepacked ? 0 : kcMax * ncPad)));
    if (!packA) {
        // Out of memory for packing: still produce the right answer.
        if (prepacked) {
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    float acc = 0.0f;
                    for (int64_t p = 0; p < K; p++) {
                        int64_t pc = p / kcMax * kcMax, kc = K - pc < kcMax ? K - pc : kcMax;
                        float b = prepacked[pc * nPad + (j / nr) * nr * kc + (p - pc) * nr + j % nr];
                        acc += (transA ? A[p * lda + i] : A[i * lda + p]) * b;
                    }
                    float *c = C + i * ldc + j;
                    *c = alpha * acc + (beta == 0.0f ? 0.0f : beta * *c);
                }
            return;
        }
        lt_sgemm_naive(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    float *packB = packA + mcPad * kcMax;
    _Alignas(64) float tile[LT_MR_MAX * LT_NR_MAX];

    for (int64_t ic = 0; ic < M; ic += mcMax) {
        int64_t mc = M - ic < mcMax ? M - ic : mcMax;
        for (int64_t pc = 0; pc < K; pc += kcMax) {
            int64_t kc = K - pc < kcMax ? K - pc : kcMax;
            float betaHere = pc == 0 ? beta : 1.0f;
            lt_pack_a(transA, A, lda, ic, mc, pc, kc, alpha, mr, isa.avx2, packA);
            for (int64_t jc = 0; jc < N; jc += ncMax) {
                int64_t nc = N - jc < ncMax ? N - jc : ncMax;
                const float *blockB;
                if (prepacked) {
                    blockB = prepacked + pc * nPad + jc * kc;
                } else {
                    lt_pack_b(transB, B, ldb, pc, kc, jc, nc, nr, isa.avx2, packB);
                    blockB = packB;
                }
                for (int64_t ir = 0; ir < mc; ir += mr) {
                    int64_t rows = mc - ir < mr ? mc - ir : mr;
                    const float *pa = packA + ir * kc;
                    float *crow = C + (ic + ir) * ldc + jc;
                    for (int64_t jr = 0; jr < nc; jr += nr) {
                        int64_t cols = nc - jr < nr ? nc - jr : nr;
                        const float *pb = blockB + jr * kc;
                        if (rows == mr && cols == nr) {
                            isa.kernel(kc, pa, pb, crow + jr, ldc, betaHere);
                            continue;
                        }
                        // Edge tile: run the same kernel on a scratch tile holding C's old
                        // values, so edge elements see exactly the same arithmetic.
                        if (betaHere != 0.0f) {
                            for (int64_t i = 0; i < rows; i++)
                                memcpy(tile + i * nr, crow + i * ldc + jr,
                                       (size_t)cols * sizeof(float));
                        }
                        isa.kernel(kc, pa, pb, tile, nr, betaHere);
                        for (int64_t i = 0; i < rows; i++)
                            memcpy(crow + i * ldc + jr, tile + i * nr, (size_t)cols * sizeof(float));
                    }
                }
            }
        }
    }
}

// Matrix-vector products (M == 1 or N == 1): packing would copy the whole matrix for a single
// pass over it, so these stream the matrix directly. y[i·incy] = alpha·Σ_p X(i, p)·v[p] + beta·y
// for i < n, with X(i, p) = X[i·ldx + p] (`rowDots`) or X[p·ldx + i]. `v` is contiguous.
// 16 independent partial sums per dot (then a fixed-order reduction) vectorise without
// reassociation, and keep the result independent of how the caller splits i.
LT_CLONES static void lt_gemv_dots(int64_t n, int64_t K, const float *X, int64_t ldx,
                                   const float *v, float *acc) {
    for (int64_t i = 0; i < n; i++) {
        const float *x = X + i * ldx;
        float part[16] = {0};
        int64_t p = 0;
        for (; p + 16 <= K; p += 16)
            for (int l = 0; l < 16; l++) part[l] += x[p + l] * v[p + l];
        for (int l = 0; p < K; p++, l++) part[l] += x[p] * v[p];
        for (int w = 8; w >= 1; w /= 2)
            for (int l = 0; l < w; l++) part[l] += part[l + w];
        acc[i] = part[0];
    }
}

LT_CLONES static void lt_gemv_axpys(int64_t n, int64_t K, const float *X, int64_t ldx,
                                    const float *v, float *acc) {
    for (int64_t i = 0; i < n; i++) acc[i] = 0.0f;
    for (int64_t p = 0; p < K; p++) {
        const float *x = X + p * ldx;
        float s = v[p];
        for (int64_t i = 0; i < n; i++) acc[i] += s * x[i];
    }
}

/// Returns 0 when scratch memory is unavailable (the caller then takes the general path).
static int lt_gemv(int rowDots, int64_t n, int64_t K, float alpha, const float *X, int64_t ldx,
                   const float *v, int64_t incv, float beta, float *y, int64_t incy) {
    float *scratch = lt_workspace_get(0, (size_t)(n + (incv != 1 ? K : 0)));
    if (!scratch) return 0;
    float *acc = scratch;
    if (incv != 1) {
        float *vc = scratch + n;
        for (int64_t p = 0; p < K; p++) vc[p] = v[p * incv];
        v = vc;
    }
    if (rowDots) lt_gemv_dots(n, K, X, ldx, v, acc);
    else lt_gemv_axpys(n, K, X, ldx, v, acc);
    for (int64_t i = 0; i < n; i++) {
        float *yi = y + i * incy;
        *yi = alpha * acc[i] + (beta == 0.0f ? 0.0f : beta * *yi);
    }
    return 1;
}

void lt_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc) {
    if (K > 0 && alpha != 0.0f) {
        // c[0, j] = Σ_p a[p]·op(B)[p, j]: B rows are dots when B is stored transposed.
        if (M == 1 && lt_gemv(transB, N, K, alpha, B, ldb, A, transA ? lda : 1, beta, C, 1))
            return;
        // c[i, 0] = Σ_p op(A)[i, p]·b[p].
        if (N == 1 && lt_gemv(!transA, M, K, alpha, A, lda, B, transB ? 1 : ldb, beta, C, ldc))
            return;
    }
    lt_sgemm_driver(lt_sgemm_pick(lt_cpu_level()), transA, transB, M, N, K, alpha, A, lda, B, ldb,
                    NULL, beta, C, ldc);
}

size_t lt_sgemm_packed_b_size(int level, int64_t K, int64_t N) {
    int nr = lt_sgemm_pick(level).nr;
    if (K <= 0 || N <= 0) return 0;
    return (size_t)(K * ((N + nr - 1) / nr * nr));
}

void lt_sgemm_pack_b(int level, int transB, int64_t K, int64_t N, const float *B, int64_t ldb,
                     int64_t n0, int64_t n1, float *packed) {
    lt_sgemm_isa isa = lt_sgemm_pick(level);
    int nr = isa.nr;
    if (K <= 0 || n1 <= n0) return;
    const int64_t kcMax = lt_even_split(K, LT_KC, 4);
    const int64_t nPad = (N + nr - 1) / nr * nr;
    for (int64_t pc = 0; pc < K; pc += kcMax) {
        int64_t kc = K - pc < kcMax ? K - pc : kcMax;
        lt_pack_b(transB, B, ldb, pc, kc, n0, n1 - n0, nr, isa.avx2, packed + pc * nPad + n0 * kc);
    }
}

void lt_sgemm_pack_b_half_t(int level, int bf16, int64_t K, int64_t N, const uint16_t *W,
                            int64_t ldw, int64_t n0, int64_t n1, float *packed) {
    lt_sgemm_isa isa = lt_sgemm_pick(level);
    int nr = isa.nr;
    if (K <= 0 || n1 <= n0) return;
    const int64_t kcMax = lt_even_split(K, LT_KC, 4);
    const int64_t nPad = (N + nr - 1) / nr * nr;
    // One panel's rows converted to float32 ([nr, kc], ld kc), then packed as a transposed B.
    _Alignas(64) float rows[LT_NR_MAX * LT_KC];
    for (int64_t pc = 0; pc < K; pc += kcMax) {
        int64_t kc = K - pc < kcMax ? K - pc : kcMax;
        for (int64_t jb = n0; jb < n1; jb += nr) {
            int64_t cols = n1 - jb < nr ? n1 - jb : nr;
            for (int64_t j = 0; j < cols; j++) {
                const uint16_t *src = W + (jb + j) * ldw + pc;
                if (bf16) lt_bf16_to_f32(src, rows + j * kc, kc);
                else lt_f16_to_f32(src, rows + j * kc, kc);
            }
            lt_pack_b(1, rows, kc, 0, kc, 0, cols, nr, isa.avx2, packed + pc * nPad + jb * kc);
        }
    }
}

void lt_sgemm_packed(int level, int transA, int64_t M, int64_t N, int64_t K, float alpha,
                     const float *A, int64_t lda, const float *packedB, float beta, float *C,
                     int64_t ldc) {
    lt_sgemm_driver(lt_sgemm_pick(level), transA, 0, M, N, K, alpha, A, lda, NULL, 0, packedB,
                    beta, C, ldc);
}
