// Row/column reductions, argmax and the fused row softmax (forward and backward).
#include "lt_elementwise.h"
#include "lt_fastmath.h"
#include "lt_rowops.h"

LT_CLONES void lt_reduce_rows_f32(int op, const float *x, int64_t rows, int64_t cols,
                                  int64_t ld, float *y) {
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * ld;
        switch (op) {
        case LT_R_SUM: y[r] = lt_row_sum(row, cols); break;
        case LT_R_MAX: y[r] = lt_row_has_nan(row, cols) ? NAN : lt_row_max(row, cols); break;
        case LT_R_MIN: y[r] = lt_row_has_nan(row, cols) ? NAN : lt_row_min(row, cols); break;
        default: break;
        }
    }
}

LT_CLONES void lt_reduce_cols_f32(int op, const float *x, int64_t rows, int64_t cols,
                                  int64_t ld, float *restrict y) {
    for (int64_t c = 0; c < cols; c++) y[c] = x[c];
    for (int64_t r = 1; r < rows; r++) {
        const float *row = x + r * ld;
        switch (op) {
        case LT_R_SUM:
            for (int64_t c = 0; c < cols; c++) y[c] += row[c];
            break;
        case LT_R_MAX:
            for (int64_t c = 0; c < cols; c++)
                y[c] = (row[c] != row[c] || row[c] > y[c]) ? row[c] : y[c];
            break;
        case LT_R_MIN:
            for (int64_t c = 0; c < cols; c++)
                y[c] = (row[c] != row[c] || row[c] < y[c]) ? row[c] : y[c];
            break;
        default: break;
        }
    }
}

void lt_argmax_rows_f32(const float *x, int64_t rows, int64_t cols, int64_t *idx) {
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * cols;
        int64_t best = 0;
        float bv = row[0];
        for (int64_t c = 1; c < cols && bv == bv; c++) {
            if (row[c] > bv || row[c] != row[c]) {
                bv = row[c];
                best = c;
            }
        }
        idx[r] = best;
    }
}

// e^d for d <= 0 (a softmax exponent x - max), 8 lanes: Cody-Waite reduction and a degree-5
// minimax polynomial (the coefficients of the sigmoid-family exp in elementwise.c, ~1.6 ulp).
// Exponents below -87 give exactly 0, so masked (-inf) entries contribute nothing.
#define LT_SOFTMAX_EXP8(D)                                                                     \
    ({                                                                                         \
        lt_v8f d_ = (D);                                                                       \
        lt_v8f xc_ = __builtin_elementwise_max(d_, (lt_v8f){0} - 87.0f);                       \
        lt_v8f n_ = (xc_ * 1.44269504088896341f + 12582912.0f) - 12582912.0f;                  \
        lt_v8f r_ = xc_ - n_ * 0.693359375f;                                                   \
        r_ = r_ + n_ * 2.12194440e-4f;                                                         \
        lt_v8f p_ = r_ * 8.3125252e-3f + 4.1890115e-2f;                                        \
        p_ = p_ * r_ + 1.6667114e-1f;                                                          \
        p_ = p_ * r_ + 4.9999231e-1f;                                                          \
        lt_v8f e_ = p_ * (r_ * r_) + r_ + 1.0f;                                                \
        e_ = e_ * (lt_v8f)((__builtin_convertvector(n_, lt_v8i) + 127) << 23);                 \
        lt_v8i live_ = d_ >= -87.0f;                                                           \
        (lt_v8f)((lt_v8i)e_ & live_);                                                          \
    })

LT_CLONES void lt_softmax_rows_f32(const float *x, float *y, int64_t rows, int64_t cols,
                                   int log) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float m = lt_row_has_nan(xr, cols) ? NAN : lt_row_max(xr, cols);
        float s;
        if (m == m && m != -INFINITY) {
            lt_v8f a0 = {0}, a1 = {0};
            int64_t i = 0;
            for (; i + 16 <= cols; i += 16) {
                lt_v8f e0 = LT_SOFTMAX_EXP8(LT_LOAD8(xr + i) - m);
                lt_v8f e1 = LT_SOFTMAX_EXP8(LT_LOAD8(xr + i + 8) - m);
                *(lt_v8fu *)(yr + i) = e0;
                *(lt_v8fu *)(yr + i + 8) = e1;
                a0 += e0;
                a1 += e1;
            }
            float tail = 0;
            for (; i < cols; i++) {
                yr[i] = lt_expf_inline(xr[i] - m);
                tail += yr[i];
            }
            s = lt_hsum8(a0 + a1) + tail;
        } else {
            // NaN in the row, or every entry -inf: NaN results, as PyTorch.
            for (int64_t i = 0; i < cols; i++) yr[i] = NAN;
            s = NAN;
        }
        if (log) {
            // (x - m) is exact for nearby values; folding m into log(s) first would round
            // at the scale of m (ulp 1e-3 at m = 1e4).
            float ls = logf(s);
            for (int64_t i = 0; i < cols; i++) yr[i] = (xr[i] - m) - ls;
        } else {
            float inv = 1.0f / s;
            for (int64_t i = 0; i < cols; i++) yr[i] *= inv;
        }
    }
}

LT_CLONES void lt_softmax_bwd_rows_f32(const float *y, const float *g, float *dx, int64_t rows,
                                       int64_t cols, int log) {
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols;
        const float *gr = g + r * cols;
        float *dr = dx + r * cols;
        if (log) {
            float s = lt_row_sum(gr, cols);
            for (int64_t i = 0; i < cols; i++) dr[i] = gr[i] - lt_expf_inline(yr[i]) * s;
        } else {
            float s = lt_row_dot(gr, yr, cols);
            for (int64_t i = 0; i < cols; i++) dr[i] = yr[i] * (gr[i] - s);
        }
    }
}
