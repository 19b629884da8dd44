// Elementwise, reduction, softmax and normalisation kernels (float32). Loops are portable C,
// compiled per ISA with LT_CLONES; exp/tanh/erfc are branch-free polynomial approximations so
// the loops vectorise (no libm calls inside them).
#ifndef LT_ELEMENTWISE_H
#define LT_ELEMENTWISE_H
#include "lt_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/// Unary op codes (mirrored by Swift's `UnaryOp`). `a`/`b` are op parameters:
/// SOFTPLUS (beta, threshold), POW (exponent, -), CLAMP (low, high).
enum {
    LT_U_NEG = 0,
    LT_U_ABS = 1,
    LT_U_SIGN = 2,
    LT_U_EXP = 3,
    LT_U_LOG = 4,
    LT_U_SQRT = 5,
    LT_U_RSQRT = 6,
    LT_U_TANH = 7,
    LT_U_SIGMOID = 8,
    LT_U_SILU = 9,
    LT_U_RELU = 10,
    LT_U_GELU = 11,
    LT_U_GELU_TANH = 12,
    LT_U_QUICK_GELU = 13,
    LT_U_SOFTPLUS = 14,
    LT_U_POW = 15,
    LT_U_CLAMP = 16,
    LT_U_SQUARE = 17,
};

/// Binary op codes (mirrored by Swift's `BinaryOp`).
enum {
    LT_B_ADD = 0,
    LT_B_SUB = 1,
    LT_B_MUL = 2,
    LT_B_DIV = 3,
    LT_B_MIN = 4,
    LT_B_MAX = 5,
    LT_B_POW = 6,
};

/// Comparison op codes (mirrored by Swift's `CompareOp`).
enum { LT_C_LT = 0, LT_C_GT = 1, LT_C_LE = 2, LT_C_GE = 3, LT_C_EQ = 4, LT_C_NE = 5 };

/// Reduction op codes.
enum { LT_R_SUM = 0, LT_R_MAX = 1, LT_R_MIN = 2 };

/// Scalar fast approximations, exported for naive-twin tests (the vector loops inline them).
float lt_fast_expf(float x);
float lt_fast_tanhf(float x);
/// erfc(z) for any z (relative error ~1e-6 for z >= 0).
float lt_fast_erfcf(float z);

/// y[i] = op(x[i]) for contiguous x, y.
void lt_unary_f32(int op, const float *x, float *y, int64_t n, float a, float b);
/// dx[i] = g[i] * op'(x[i]); y is the forward output (used where cheaper than x).
void lt_unary_bwd_f32(int op, const float *x, const float *y, const float *g, float *dx,
                      int64_t n, float a, float b);

/// y[i] = a[i*sa] op b[i*sb] (strides in elements; 0 broadcasts). y is contiguous.
void lt_binary_f32(int op, const float *a, int64_t sa, const float *b, int64_t sb, float *y,
                   int64_t n);
/// y[i] = a[i*sa] cmp b[i*sb] as 0/1 bytes.
void lt_compare_f32(int op, const float *a, int64_t sa, const float *b, int64_t sb, uint8_t *y,
                    int64_t n);
/// y[i] = c[i*sc] ? a[i*sa] : b[i*sb].
void lt_where_f32(const uint8_t *c, int64_t sc, const float *a, int64_t sa, const float *b,
                  int64_t sb, float *y, int64_t n);

/// y[r] = reduce(x[r*ld + 0..<cols]) for r in 0..<rows.
void lt_reduce_rows_f32(int op, const float *x, int64_t rows, int64_t cols, int64_t ld,
                        float *y);
/// y[c] = reduce over r of x[r*ld + c], c in 0..<cols (y is overwritten).
void lt_reduce_cols_f32(int op, const float *x, int64_t rows, int64_t cols, int64_t ld,
                        float *y);
/// Index of the first maximum of each row (NaN counts as the maximum, as PyTorch).
void lt_argmax_rows_f32(const float *x, int64_t rows, int64_t cols, int64_t *idx);

/// Row softmax (or log-softmax when `log`), numerically stable.
void lt_softmax_rows_f32(const float *x, float *y, int64_t rows, int64_t cols, int log);
/// Backward of the row softmax from its output y and output gradient g.
void lt_softmax_bwd_rows_f32(const float *y, const float *g, float *dx, int64_t rows,
                             int64_t cols, int log);

/// LayerNorm over rows of length cols. w/b may be NULL. Writes mean and rstd per row.
void lt_layernorm_fwd_f32(const float *x, const float *w, const float *b, float *y,
                          float *mean, float *rstd, int64_t rows, int64_t cols, float eps);
/// dx of LayerNorm for rows; w may be NULL.
void lt_layernorm_bwd_dx_f32(const float *g, const float *x, const float *w, const float *mean,
                             const float *rstd, float *dx, int64_t rows, int64_t cols);
/// Accumulates dw += Σ_r g*xhat and db += Σ_r g over rows (either may be NULL).
void lt_layernorm_bwd_dwdb_f32(const float *g, const float *x, const float *mean,
                               const float *rstd, float *dw, float *db, int64_t rows,
                               int64_t cols);
/// RMSNorm over rows: y = x * rsqrt(mean(x^2) + eps) * w (w may be NULL). Writes rstd per row.
void lt_rmsnorm_fwd_f32(const float *x, const float *w, float *y, float *rstd, int64_t rows,
                        int64_t cols, float eps);
/// GroupNorm statistics and output for groups [g0, g1) of x viewed as [N*G, C/G, S].
/// w/b are per channel (C = G * cpg) or NULL.
void lt_groupnorm_fwd_f32(const float *x, const float *w, const float *b, float *y,
                          float *mean, float *rstd, int64_t g0, int64_t g1, int64_t groups,
                          int64_t cpg, int64_t spatial, float eps);

#ifdef __cplusplus
}
#endif
#endif
