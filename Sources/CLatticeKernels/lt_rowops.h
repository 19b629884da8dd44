// Private: row reductions with 32 independent accumulators. The fixed-width inner loop lets
// clang keep the partial sums in vector registers without -ffast-math reassociation, and the
// fixed combine order keeps results bit-identical across ISAs of the same vector width.
#ifndef LT_ROWOPS_H
#define LT_ROWOPS_H
#include <math.h>
#include <stdint.h>

#define LT_ACC 32

static inline __attribute__((always_inline)) float lt_combine_sum(float *acc) {
    for (int w = LT_ACC / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

static inline __attribute__((always_inline)) float lt_row_sum(const float *x, int64_t n) {
    float acc[LT_ACC] = {0};
    int64_t i = 0;
    for (; i + LT_ACC <= n; i += LT_ACC)
        for (int j = 0; j < LT_ACC; j++) acc[j] += x[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += x[i];
    return lt_combine_sum(acc);
}

/// Σ (x - m)².
static inline __attribute__((always_inline)) float lt_row_sumsq_centered(const float *x, int64_t n, float m) {
    float acc[LT_ACC] = {0};
    int64_t i = 0;
    for (; i + LT_ACC <= n; i += LT_ACC)
        for (int j = 0; j < LT_ACC; j++) {
            float d = x[i + j] - m;
            acc[j] += d * d;
        }
    for (int j = 0; i < n; i++, j++) {
        float d = x[i] - m;
        acc[j] += d * d;
    }
    return lt_combine_sum(acc);
}

static inline __attribute__((always_inline)) float lt_row_dot(const float *x, const float *y, int64_t n) {
    float acc[LT_ACC] = {0};
    int64_t i = 0;
    for (; i + LT_ACC <= n; i += LT_ACC)
        for (int j = 0; j < LT_ACC; j++) acc[j] += x[i + j] * y[i + j];
    for (int j = 0; i < n; i++, j++) acc[j] += x[i] * y[i];
    return lt_combine_sum(acc);
}

static inline __attribute__((always_inline)) float lt_row_max(const float *x, int64_t n) {
    float acc[LT_ACC];
    for (int j = 0; j < LT_ACC; j++) acc[j] = -INFINITY;
    int64_t i = 0;
    for (; i + LT_ACC <= n; i += LT_ACC)
        for (int j = 0; j < LT_ACC; j++) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
    for (int j = 0; i < n; i++, j++) acc[j] = x[i] > acc[j] ? x[i] : acc[j];
    for (int w = LT_ACC / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] = acc[j + w] > acc[j] ? acc[j + w] : acc[j];
    return acc[0];
}

static inline __attribute__((always_inline)) float lt_row_min(const float *x, int64_t n) {
    float acc[LT_ACC];
    for (int j = 0; j < LT_ACC; j++) acc[j] = INFINITY;
    int64_t i = 0;
    for (; i + LT_ACC <= n; i += LT_ACC)
        for (int j = 0; j < LT_ACC; j++) acc[j] = x[i + j] < acc[j] ? x[i + j] : acc[j];
    for (int j = 0; i < n; i++, j++) acc[j] = x[i] < acc[j] ? x[i] : acc[j];
    for (int w = LT_ACC / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] = acc[j + w] < acc[j] ? acc[j + w] : acc[j];
    return acc[0];
}

/// True when any element is NaN (max/min propagate NaN as PyTorch; the vector compare drops it).
static inline __attribute__((always_inline)) int lt_row_has_nan(const float *x, int64_t n) {
    int any = 0;
    for (int64_t i = 0; i < n; i++) any |= x[i] != x[i];
    return any;
}
#endif
