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

LT_CLONES void lt_softmax_rows_f32(const float *x, float *y, int64_t rows, int64_t cols,
                                   int log) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float m = lt_row_has_nan(xr, cols) ? NAN : lt_row_max(xr, cols);
        for (int64_t i = 0; i < cols; i++) yr[i] = lt_expf_inline(xr[i] - m);
        float s = lt_row_sum(yr, cols);
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
