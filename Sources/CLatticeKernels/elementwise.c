// Elementwise float32 kernels: unary maps and their derivatives, strided binary ops,
// comparisons and select. Each op is its own loop inside one LT_CLONES function so every loop
// is auto-vectorised per ISA; log, softplus and pow keep libm calls (scalar loops).
#include "lt_elementwise.h"
#include "lt_fastmath.h"
#include "lt_rowops.h"

float lt_fast_expf(float x) { return lt_expf_inline(x); }
float lt_fast_tanhf(float x) { return lt_tanhf_inline(x); }
float lt_fast_erfcf(float z) {
    return z >= 0.0f ? lt_erfc_pos_inline(z) : 2.0f - lt_erfc_pos_inline(-z);
}

#define LT_SQRT(v) __builtin_elementwise_sqrt(v)
#define MAP(EXPR)                                                                              \
    for (int64_t i = 0; i < n; i++) {                                                          \
        float v = x[i];                                                                        \
        (void)v;                                                                               \
        y[i] = (EXPR);                                                                         \
    }                                                                                          \
    break;

// sqrt(2/pi), the GELU tanh-approximation constants as PyTorch defines them.
#define K_BETA 0.7978845608028654f
#define K_KAPPA 0.044715f

// ---- Sigmoid family (sigmoid, silu, quickGelu, GELU-tanh): num / (1 + e^arg) ----
// These are the bandwidth-bound activations of every transformer MLP, so they get explicit
// 16-wide vector code (GCC vector extensions: zmm on AVX-512, 2 ymm on AVX2, 4 xmm baseline)
// with a saturating exp (one scale factor, no subnormal path: e^arg only feeds 1/(1 + e^arg),
// where anything below e^-87 already rounds away) and, for outputs too big to stay in cache,
// non-temporal stores that skip the read-for-ownership of the output lines.
typedef float lt_v16f __attribute__((vector_size(64), aligned(64)));
typedef float lt_v16fu __attribute__((vector_size(64), aligned(4)));
typedef int32_t lt_v16i __attribute__((vector_size(64), aligned(64)));


// Saturating exponentials, written once as macros so the scalar head/tail and the vector body
// evaluate identical operations. Degree-5 polynomials (coefficients fitted here for minimax
// relative error, ~1e-7 in exact arithmetic, ~1.6 ulp evaluated in float) are enough because
// the result only feeds 1/(1 + e).
//
// Natural: e^x for x clamped to [-87, 88] (Cody-Waite reduction, exact argument), +inf above
// 88.7.
#define LT_EXP_SAT_BODY(T, TI, X, OUT)                                                         \
    {                                                                                          \
        T xs_ = (X);                                                                           \
        T xc_ = LT_MIN(LT_MAX(xs_, (T){0} - 87.0f), (T){0} + 88.0f);                           \
        T n_ = (xc_ * 1.44269504088896341f + 12582912.0f) - 12582912.0f;                       \
        T r_ = xc_ - n_ * 0.693359375f;                                                        \
        r_ = r_ + n_ * 2.12194440e-4f;                                                         \
        T p_ = r_ * 8.3125252e-3f + 4.1890115e-2f;                                             \
        p_ = p_ * r_ + 1.6667114e-1f;                                                          \
        p_ = p_ * r_ + 4.9999231e-1f;                                                          \
        T e_ = p_ * (r_ * r_) + r_ + 1.0f;                                                     \
        OUT = LT_SCALE_OVF(T, TI, e_, n_, xs_, 88.7f);                                         \
    }
// Base 2: 2^a for a clamped to [-126, 127], +inf above 127.9. For callers whose argument is
// already a rounded float expression (GELU-tanh), folding log2(e) into it costs no accuracy
// and saves the two-step reduction.
#define LT_EXP2_SAT_BODY(T, TI, X, OUT)                                                        \
    {                                                                                          \
        T xs_ = (X);                                                                           \
        T xc_ = LT_MIN(LT_MAX(xs_, (T){0} - 126.0f), (T){0} + 127.0f);                         \
        T n_ = (xc_ + 12582912.0f) - 12582912.0f;                                              \
        T r_ = xc_ - n_;                                                                       \
        T p_ = r_ * 1.3264727e-3f + 9.6715130e-3f;                                             \
        p_ = p_ * r_ + 5.5507336e-2f;                                                          \
        p_ = p_ * r_ + 2.4022242e-1f;                                                          \
        p_ = p_ * r_ + 6.9314700e-1f;                                                          \
        T e_ = p_ * r_ + 1.0f;                                                                 \
        OUT = LT_SCALE_OVF(T, TI, e_, n_, xs_, 127.9f);                                        \
    }

#define LT_MIN(a, b) __builtin_elementwise_min(a, b)
#define LT_MAX(a, b) __builtin_elementwise_max(a, b)
static inline __attribute__((always_inline)) float lt_scale_ovf_s(float e, float n, float x,
                                                                  float limit) {
    float r = e * lt_from_bits(((int32_t)n + 127) << 23);
    return x > limit ? INFINITY : r;
}
#define LT_SCALE_OVF_V(e, n, x, limit)                                                         \
    ({                                                                                         \
        lt_v16f r_s = (e) * (lt_v16f)((__builtin_convertvector((n), lt_v16i) + 127) << 23);    \
        lt_v16i big_ = (x) > (limit);                                                          \
        (lt_v16f)(((lt_v16i)r_s & ~big_) | ((lt_v16i)((lt_v16f){} + INFINITY) & big_));        \
    })
#define LT_SCALE_OVF(T, TI, e, n, x, limit) LT_SCALE_OVF_##T(e, n, x, limit)
#define LT_SCALE_OVF_float(e, n, x, limit) lt_scale_ovf_s(e, n, x, limit)
#define LT_SCALE_OVF_lt_v16f(e, n, x, limit) LT_SCALE_OVF_V(e, n, x, limit)

// NaN fix-up for sigmoid (its numerator is 1, and the clamp maps NaN to a number).
#define LT_KEEP_NAN_float(v, r) ((v) != (v) ? (v) : (r))
#define LT_KEEP_NAN_lt_v16f(v, r)                                                              \
    ({                                                                                         \
        lt_v16i nan_ = (v) != (v);                                                             \
        (lt_v16f)(((lt_v16i)(r) & ~nan_) | ((lt_v16i)(v) & nan_));                             \
    })
#define LT_NO_FIX_float(v, r) (r)
#define LT_NO_FIX_lt_v16f(v, r) (r)

#define LT_SIGFAM_ONE(T, TI, EXP, ARG, NUM, FIX, v, OUT)                                       \
    {                                                                                          \
        T e1_;                                                                                 \
        EXP(T, TI, ARG, e1_)                                                                   \
        T r1_ = (NUM) / (1.0f + e1_);                                                          \
        OUT = FIX##_##T(v, r1_);                                                               \
    }

#define LT_SIGFAM_LOOP(EXP, ARG, NUM, FIX)                                                          \
    {                                                                                          \
        int64_t i = 0;                                                                         \
        for (; i < n && ((uintptr_t)(y + i) & 63); i++) {                                      \
            float v = x[i];                                                                    \
            LT_SIGFAM_ONE(float, int32_t, EXP, ARG, NUM, FIX, v, y[i])                              \
        }                                                                                      \
        if (n >= LT_NT_MIN_FLOATS) {                                                           \
            for (; i + 16 <= n; i += 16) {                                                     \
                lt_v16f v = *(const lt_v16fu *)(x + i);                                        \
                lt_v16f out_;                                                                  \
                LT_SIGFAM_ONE(lt_v16f, lt_v16i, EXP, ARG, NUM, FIX, v, out_)                        \
                __builtin_nontemporal_store(out_, (lt_v16f *)(y + i));                         \
            }                                                                                  \
            LT_STORE_FENCE();                                                                  \
        } else {                                                                               \
            for (; i + 16 <= n; i += 16) {                                                     \
                lt_v16f v = *(const lt_v16fu *)(x + i);                                        \
                LT_SIGFAM_ONE(lt_v16f, lt_v16i, EXP, ARG, NUM, FIX, v, *(lt_v16f *)(y + i))         \
            }                                                                                  \
        }                                                                                      \
        for (; i < n; i++) {                                                                   \
            float v = x[i];                                                                    \
            LT_SIGFAM_ONE(float, int32_t, EXP, ARG, NUM, FIX, v, y[i])                              \
        }                                                                                      \
    }


LT_CLONES static void lt_sigmoid_family(int op, const float *restrict x, float *restrict y,
                                        int64_t n) {
    switch (op) {
    case LT_U_SIGMOID: LT_SIGFAM_LOOP(LT_EXP_SAT_BODY, -v, 1.0f, LT_KEEP_NAN) break;
    case LT_U_SILU: LT_SIGFAM_LOOP(LT_EXP_SAT_BODY, -v, v, LT_NO_FIX) break;
    case LT_U_QUICK_GELU: LT_SIGFAM_LOOP(LT_EXP_SAT_BODY, -1.702f * v, v, LT_NO_FIX) break;
    // 0.5x(1 + tanh(u)) == x·sigmoid(2u) = x / (1 + 2^(-2u·log2 e)): one exp2, no cancellation
    // for negative x. The constants are -2·√(2/π)·log2(e) and that times 0.044715.
    case LT_U_GELU_TANH:
        LT_SIGFAM_LOOP(LT_EXP2_SAT_BODY, v * (-2.3022082f + -0.10294324f * (v * v)), v, LT_NO_FIX)
        break;
    default: break;
    }
}

LT_CLONES void lt_unary_f32(int op, const float *restrict x, float *restrict y, int64_t n,
                            float a, float b) {
    switch (op) {
    case LT_U_SIGMOID:
    case LT_U_SILU:
    case LT_U_QUICK_GELU:
    case LT_U_GELU_TANH: lt_sigmoid_family(op, x, y, n); break;
    case LT_U_NEG: MAP(-v)
    case LT_U_ABS: MAP(__builtin_fabsf(v))
    case LT_U_SIGN: MAP(v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : v * 0.0f))
    case LT_U_EXP: MAP(lt_expf_inline(v))
    case LT_U_LOG: MAP(logf(v))
    case LT_U_SQRT: MAP(LT_SQRT(v))
    case LT_U_RSQRT: MAP(1.0f / LT_SQRT(v))
    case LT_U_TANH: MAP(lt_tanhf_inline(v))
    case LT_U_RELU: MAP(v < 0.0f ? 0.0f : v)
    case LT_U_GELU: MAP(v * lt_normcdf_inline(v))
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
        (void)d;                                                                               \
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
