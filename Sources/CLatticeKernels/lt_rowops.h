// Private: row reductions with four 8-wide vector accumulators (32 partial sums). Explicit
// vector-extension code keeps the partial sums in registers (ymm in the AVX2/AVX-512 clones,
// xmm pairs in the baseline one) without -ffast-math reassociation, and the fixed combine
// order gives the same bits on every ISA.
#ifndef LT_ROWOPS_H
#define LT_ROWOPS_H
#include <math.h>
#include <stdint.h>

#define LT_AI static inline __attribute__((always_inline))

typedef float lt_v8f __attribute__((vector_size(32), aligned(32)));
typedef float lt_v8fu __attribute__((vector_size(32), aligned(4)));
typedef int32_t lt_v8i __attribute__((vector_size(32), aligned(32)));

#define LT_LOAD8(p) (*(const lt_v8fu *)(p))

/// Kernel calls writing at least this many floats use non-temporal stores (8 MB: more than a
/// fair share of L3, so the output would be evicted before reuse anyway, and streaming skips
/// the read-for-ownership of every output line).
#define LT_NT_MIN_FLOATS (1 << 21)

#if defined(__x86_64__)
#define LT_STORE_FENCE() __builtin_ia32_sfence()
#else
#define LT_STORE_FENCE() ((void)0)
#endif

// A macro, not a function: vector arguments would change the ABI of a non-AVX function.
#define lt_hsum8(A)                                                                            \
    ({                                                                                         \
        lt_v8f h_ = (A);                                                                       \
        ((h_[0] + h_[4]) + (h_[1] + h_[5])) + ((h_[2] + h_[6]) + (h_[3] + h_[7]));             \
    })

LT_AI float lt_row_sum(const float *x, int64_t n) {
    lt_v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 += LT_LOAD8(x + i);
        a1 += LT_LOAD8(x + i + 8);
        a2 += LT_LOAD8(x + i + 16);
        a3 += LT_LOAD8(x + i + 24);
    }
    float tail = 0;
    for (; i < n; i++) tail += x[i];
    return lt_hsum8((a0 + a1) + (a2 + a3)) + tail;
}

/// Σ (x - m)².
LT_AI float lt_row_sumsq_centered(const float *x, int64_t n, float m) {
    lt_v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        lt_v8f d0 = LT_LOAD8(x + i) - m, d1 = LT_LOAD8(x + i + 8) - m;
        lt_v8f d2 = LT_LOAD8(x + i + 16) - m, d3 = LT_LOAD8(x + i + 24) - m;
        a0 += d0 * d0;
        a1 += d1 * d1;
        a2 += d2 * d2;
        a3 += d3 * d3;
    }
    float tail = 0;
    for (; i < n; i++) tail += (x[i] - m) * (x[i] - m);
    return lt_hsum8((a0 + a1) + (a2 + a3)) + tail;
}

LT_AI float lt_row_dot(const float *x, const float *y, int64_t n) {
    lt_v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 += LT_LOAD8(x + i) * LT_LOAD8(y + i);
        a1 += LT_LOAD8(x + i + 8) * LT_LOAD8(y + i + 8);
        a2 += LT_LOAD8(x + i + 16) * LT_LOAD8(y + i + 16);
        a3 += LT_LOAD8(x + i + 24) * LT_LOAD8(y + i + 24);
    }
    float tail = 0;
    for (; i < n; i++) tail += x[i] * y[i];
    return lt_hsum8((a0 + a1) + (a2 + a3)) + tail;
}

LT_AI float lt_row_max(const float *x, int64_t n) {
    lt_v8f a0 = {0}, a1, a2, a3;
    a0 -= INFINITY;
    a1 = a0;
    a2 = a0;
    a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = __builtin_elementwise_max(a0, LT_LOAD8(x + i));
        a1 = __builtin_elementwise_max(a1, LT_LOAD8(x + i + 8));
        a2 = __builtin_elementwise_max(a2, LT_LOAD8(x + i + 16));
        a3 = __builtin_elementwise_max(a3, LT_LOAD8(x + i + 24));
    }
    lt_v8f a = __builtin_elementwise_max(__builtin_elementwise_max(a0, a1),
                                         __builtin_elementwise_max(a2, a3));
    float m = -INFINITY;
    for (int k = 0; k < 8; k++) m = a[k] > m ? a[k] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

LT_AI float lt_row_min(const float *x, int64_t n) {
    lt_v8f a0 = {0}, a1, a2, a3;
    a0 += INFINITY;
    a1 = a0;
    a2 = a0;
    a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = __builtin_elementwise_min(a0, LT_LOAD8(x + i));
        a1 = __builtin_elementwise_min(a1, LT_LOAD8(x + i + 8));
        a2 = __builtin_elementwise_min(a2, LT_LOAD8(x + i + 16));
        a3 = __builtin_elementwise_min(a3, LT_LOAD8(x + i + 24));
    }
    lt_v8f a = __builtin_elementwise_min(__builtin_elementwise_min(a0, a1),
                                         __builtin_elementwise_min(a2, a3));
    float m = INFINITY;
    for (int k = 0; k < 8; k++) m = a[k] < m ? a[k] : m;
    for (; i < n; i++) m = x[i] < m ? x[i] : m;
    return m;
}

/// True when any element is NaN (max/min propagate NaN as PyTorch; the vector max drops it).
LT_AI int lt_row_has_nan(const float *x, int64_t n) {
    int any = 0;
    for (int64_t i = 0; i < n; i++) any |= x[i] != x[i];
    return any;
}
#endif
