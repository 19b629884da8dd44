// Elementwise float32 kernels: unary maps and their derivatives, strided binary ops,
// comparisons and select. Each op is its own loop inside one LT_CLONES function so every loop
// is auto-vectorised per ISA; log, softplus and pow keep libm calls (scalar loops).
#include "lt_elementwise.h"
#include "lt_fastmath.h"

float lt_fast_expf(float x) { return lt_expf_inline(x); }
float lt_fast_tanhf(float x) { return lt_tanhf_inline(x); }
float lt_fast_erfcf(float z) {
    return z >= 0.0f ? lt_erfc_pos_inline(z) : 2.0f - lt_erfc_pos_inline(-z);
}

#define LT_SQRT(v) __builtin_elementwise_sqrt(v)
#define MAP(EXPR)                                                                              \
    for (int64_t i = 0; i < n; i++) {                                                          \
        float v = x[i];                                                                        \
        y[i] = (EXPR);                                                                         \
    }                                                                                          \
    break;

// sqrt(2/pi), the GELU tanh-approximation constants as PyTorch defines them.
#define K_BETA 0.7978845608028654f
#define K_KAPPA 0.044715f

LT_CLONES void lt_unary_f32(int op, const float *restrict x, float *restrict y, int64_t n,
                            float a, float b) {
    switch (op) {
    case LT_U_NEG: MAP(-v)
    case LT_U_ABS: MAP(__builtin_fabsf(v))
    case LT_U_SIGN: MAP(v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : v * 0.0f))
    case LT_U_EXP: MAP(lt_expf_inline(v))
    case LT_U_LOG: MAP(logf(v))
    case LT_U_SQRT: MAP(LT_SQRT(v))
    case LT_U_RSQRT: MAP(1.0f / LT_SQRT(v))
    case LT_U_TANH: MAP(lt_tanhf_inline(v))
    case LT_U_SIGMOID: MAP(1.0f / (1.0f + lt_expf_inline(-v)))
    case LT_U_SILU: MAP(v / (1.0f + lt_expf_inline(-v)))
    case LT_U_RELU: MAP(v < 0.0f ? 0.0f : v)
    case LT_U_GELU: MAP(v * lt_normcdf_inline(v))
    // 0.5x(1 + tanh(u)) == x·sigmoid(2u): one exp, no cancellation for negative x.
    case LT_U_GELU_TANH: MAP(v / (1.0f + lt_expf_inline(-2.0f * K_BETA * (v + K_KAPPA * v * v * v))))
    case LT_U_QUICK_GELU: MAP(v / (1.0f + lt_expf_inline(-1.702f * v)))
    case LT_U_SOFTPLUS: MAP(v * a > b ? v : log1pf(lt_expf_inline(v * a)) / a)
    case LT_U_POW:
        if (a == 2.0f) {
            MAP(v * v)
        } else if (a == 1.0f) {
            MAP(v)
        } else if (a == 0.5f) {
            MAP(LT_SQRT(v))
        } else if (a == -1.0f) {
            MAP(1.0f / v)
        } else if (a == 3.0f) {
            MAP(v * v * v)
        } else if (a == 0.0f) {
            MAP(1.0f)
        } else {
            MAP(powf(v, a))
        }
    case LT_U_CLAMP: MAP(v < a ? a : (v > b ? b : v))
    case LT_U_SQUARE: MAP(v * v)
    default: break;
    }
}

#define DMAP(EXPR)                                                                             \
    for (int64_t i = 0; i < n; i++) {                                                          \
        float v = x[i];                                                                        \
        float o = y[i];                                                                        \
        float d = g[i];                                                                        \
        (void)v;                                                                               \
        (void)o;                                                                               \
        dx[i] = (EXPR);                                                                        \
    }                                                                                          \
    break;

static inline __attribute__((always_inline)) float lt_gelu_tanh_grad(float v) {
    float v2 = v * v;
    float t = lt_tanhf_inline(K_BETA * (v + K_KAPPA * v2 * v));
    return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * K_BETA * (1.0f + 3.0f * K_KAPPA * v2);
}

static inline __attribute__((always_inline)) float lt_quick_gelu_grad(float v) {
    float s = 1.0f / (1.0f + lt_expf_inline(-1.702f * v));
    return s + 1.702f * v * s * (1.0f - s);
}

LT_CLONES void lt_unary_bwd_f32(int op, const float *restrict x, const float *restrict y,
                                const float *restrict g, float *restrict dx, int64_t n, float a,
                                float b) {
    switch (op) {
    case LT_U_NEG: DMAP(-d)
    case LT_U_ABS: DMAP(v > 0.0f ? d : (v < 0.0f ? -d : 0.0f))
    case LT_U_SIGN: DMAP(0.0f)
    case LT_U_EXP: DMAP(d * o)
    case LT_U_LOG: DMAP(d / v)
    case LT_U_SQRT: DMAP(d / (2.0f * o))
    case LT_U_RSQRT: DMAP(-0.5f * d * o * o * o)
    case LT_U_TANH: DMAP(d * (1.0f - o * o))
    case LT_U_SIGMOID: DMAP(d * o * (1.0f - o))
    case LT_U_SILU: {
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            float s = 1.0f / (1.0f + lt_expf_inline(-v));
            dx[i] = g[i] * s * (1.0f + v * (1.0f - s));
        }
        break;
    }
    case LT_U_RELU: DMAP(o > 0.0f ? d : 0.0f)
    case LT_U_GELU: DMAP(d * (lt_normcdf_inline(v) + v * 0.3989422804014327f * lt_expf_inline(-0.5f * v * v)))
    case LT_U_GELU_TANH: DMAP(d * lt_gelu_tanh_grad(v))
    case LT_U_QUICK_GELU: DMAP(d * lt_quick_gelu_grad(v))
    case LT_U_SOFTPLUS: DMAP(v * a > b ? d : d / (1.0f + lt_expf_inline(-v * a)))
    case LT_U_POW:
        if (a == 0.0f) {
            DMAP(0.0f)
        } else if (a == 1.0f) {
            DMAP(d)
        } else if (a == 2.0f) {
            DMAP(2.0f * d * v)
        } else {
            DMAP(d * a * powf(v, a - 1.0f))
        }
    case LT_U_CLAMP: DMAP((v >= a && v <= b) ? d : 0.0f)
    case LT_U_SQUARE: DMAP(2.0f * d * v)
    default: break;
    }
}

static inline __attribute__((always_inline)) float lt_max_nan(float p, float q) { return (p != p || p > q) ? p : q; }
static inline __attribute__((always_inline)) float lt_min_nan(float p, float q) { return (p != p || p < q) ? p : q; }

// Four stride patterns: both contiguous, scalar right, scalar left, general.
#define BIN(EXPR)                                                                              \
    if (sa == 1 && sb == 1) {                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                      \
            float p = a[i], q = b[i];                                                          \
            y[i] = (EXPR);                                                                     \
        }                                                                                      \
    } else if (sa == 1 && sb == 0) {                                                           \
        const float q = b[0];                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                      \
            float p = a[i];                                                                    \
            y[i] = (EXPR);                                                                     \
        }                                                                                      \
    } else if (sa == 0 && sb == 1) {                                                           \
        const float p = a[0];                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                      \
            float q = b[i];                                                                    \
            y[i] = (EXPR);                                                                     \
        }                                                                                      \
    } else {                                                                                   \
        for (int64_t i = 0; i < n; i++) {                                                      \
            float p = a[i * sa], q = b[i * sb];                                                \
            y[i] = (EXPR);                                                                     \
        }                                                                                      \
    }                                                                                          \
    break;

LT_CLONES void lt_binary_f32(int op, const float *a, int64_t sa, const float *b, int64_t sb,
                             float *restrict y, int64_t n) {
    switch (op) {
    case LT_B_ADD: BIN(p + q)
    case LT_B_SUB: BIN(p - q)
    case LT_B_MUL: BIN(p * q)
    case LT_B_DIV: BIN(p / q)
    case LT_B_MIN: BIN(lt_min_nan(p, q))
    case LT_B_MAX: BIN(lt_max_nan(p, q))
    case LT_B_POW: BIN(powf(p, q))
    default: break;
    }
}

LT_CLONES void lt_compare_f32(int op, const float *a, int64_t sa, const float *b, int64_t sb,
                              uint8_t *restrict y, int64_t n) {
    switch (op) {
    case LT_C_LT: BIN((uint8_t)(p < q))
    case LT_C_GT: BIN((uint8_t)(p > q))
    case LT_C_LE: BIN((uint8_t)(p <= q))
    case LT_C_GE: BIN((uint8_t)(p >= q))
    case LT_C_EQ: BIN((uint8_t)(p == q))
    case LT_C_NE: BIN((uint8_t)(p != q))
    default: break;
    }
}

LT_CLONES void lt_where_f32(const uint8_t *c, int64_t sc, const float *a, int64_t sa,
                            const float *b, int64_t sb, float *restrict y, int64_t n) {
    if (sc == 1 && sa == 1 && sb == 1) {
        for (int64_t i = 0; i < n; i++) y[i] = c[i] ? a[i] : b[i];
    } else if (sc == 1 && sa == 1 && sb == 0) {
        const float q = b[0];
        for (int64_t i = 0; i < n; i++) y[i] = c[i] ? a[i] : q;
    } else if (sc == 1 && sa == 0 && sb == 1) {
        const float p = a[0];
        for (int64_t i = 0; i < n; i++) y[i] = c[i] ? p : b[i];
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = c[i * sc] ? a[i * sa] : b[i * sb];
    }
}
