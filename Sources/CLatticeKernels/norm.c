// Fused LayerNorm / RMSNorm / GroupNorm row kernels. Rows are normalised with two passes over
// data that stays in L1 (mean, then centred variance), which is both stable and memory-bound.
#include "lt_elementwise.h"
#include "lt_rowops.h"

LT_CLONES void lt_layernorm_fwd_f32(const float *x, const float *w, const float *b, float *y,
                                    float *mean, float *rstd, int64_t rows, int64_t cols,
                                    float eps) {
    int stream = rows * cols >= LT_NT_MIN_FLOATS;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *restrict yr = y + r * cols;
        float m = lt_row_sum(xr, cols) / (float)cols;
        float var = lt_row_sumsq_centered(xr, cols, m) / (float)cols;
        float rs = 1.0f / sqrtf(var + eps);
        mean[r] = m;
        rstd[r] = rs;
        if (stream && ((uintptr_t)yr & 31) == 0 && cols % 8 == 0) {
            for (int64_t i = 0; i < cols; i += 8) {
                lt_v8f v = (LT_LOAD8(xr + i) - m) * rs;
                if (w) v *= LT_LOAD8(w + i);
                if (b) v += LT_LOAD8(b + i);
                __builtin_nontemporal_store(v, (lt_v8f *)(yr + i));
            }
        } else if (w && b) {
            for (int64_t i = 0; i < cols; i++) yr[i] = (xr[i] - m) * rs * w[i] + b[i];
        } else if (w) {
            for (int64_t i = 0; i < cols; i++) yr[i] = (xr[i] - m) * rs * w[i];
        } else if (b) {
            for (int64_t i = 0; i < cols; i++) yr[i] = (xr[i] - m) * rs + b[i];
        } else {
            for (int64_t i = 0; i < cols; i++) yr[i] = (xr[i] - m) * rs;
        }
    }
    if (stream) LT_STORE_FENCE();
}

LT_CLONES void lt_layernorm_bwd_dx_f32(const float *g, const float *x, const float *w,
                                       const float *mean, const float *rstd, float *dx,
                                       int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *gr = g + r * cols;
        const float *xr = x + r * cols;
        float *restrict dr = dx + r * cols;
        float m = mean[r], rs = rstd[r];
        // a = mean(g·w), c = mean(g·w·xhat)
        lt_v8f accA = {0}, accC = {0}, accA2 = {0}, accC2 = {0};
        int64_t i = 0;
        for (; i + 16 <= cols; i += 16) {
            lt_v8f g0 = LT_LOAD8(gr + i), g1 = LT_LOAD8(gr + i + 8);
            if (w) {
                g0 *= LT_LOAD8(w + i);
                g1 *= LT_LOAD8(w + i + 8);
            }
            accA += g0;
            accA2 += g1;
            accC += g0 * ((LT_LOAD8(xr + i) - m) * rs);
            accC2 += g1 * ((LT_LOAD8(xr + i + 8) - m) * rs);
        }
        float tailA = 0, tailC = 0;
        for (; i < cols; i++) {
            float gw = w ? gr[i] * w[i] : gr[i];
            tailA += gw;
            tailC += gw * (xr[i] - m) * rs;
        }
        float a = (lt_hsum8(accA + accA2) + tailA) / (float)cols;
        float c = (lt_hsum8(accC + accC2) + tailC) / (float)cols;
        if (w) {
            for (i = 0; i < cols; i++)
                dr[i] = rs * (gr[i] * w[i] - a - (xr[i] - m) * rs * c);
        } else {
            for (i = 0; i < cols; i++) dr[i] = rs * (gr[i] - a - (xr[i] - m) * rs * c);
        }
    }
}

LT_CLONES void lt_layernorm_bwd_dwdb_f32(const float *g, const float *x, const float *mean,
                                         const float *rstd, float *restrict dw,
                                         float *restrict db, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *gr = g + r * cols;
        const float *xr = x + r * cols;
        float m = mean[r], rs = rstd[r];
        if (dw)
            for (int64_t i = 0; i < cols; i++) dw[i] += gr[i] * (xr[i] - m) * rs;
        if (db)
            for (int64_t i = 0; i < cols; i++) db[i] += gr[i];
    }
}

LT_CLONES void lt_rmsnorm_fwd_f32(const float *x, const float *w, float *y, float *rstd,
                                  int64_t rows, int64_t cols, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *restrict yr = y + r * cols;
        float ms = lt_row_dot(xr, xr, cols) / (float)cols;
        float rs = 1.0f / sqrtf(ms + eps);
        rstd[r] = rs;
        if (w) {
            for (int64_t i = 0; i < cols; i++) yr[i] = xr[i] * rs * w[i];
        } else {
            for (int64_t i = 0; i < cols; i++) yr[i] = xr[i] * rs;
        }
    }
}

LT_CLONES void lt_groupnorm_fwd_f32(const float *x, const float *w, const float *b, float *y,
                                    float *mean, float *rstd, int64_t g0, int64_t g1,
                                    int64_t groups, int64_t cpg, int64_t spatial, float eps) {
    int64_t len = cpg * spatial;
    for (int64_t q = g0; q < g1; q++) {
        const float *xq = x + q * len;
        float *yq = y + q * len;
        float m = lt_row_sum(xq, len) / (float)len;
        float var = lt_row_sumsq_centered(xq, len, m) / (float)len;
        float rs = 1.0f / sqrtf(var + eps);
        mean[q] = m;
        rstd[q] = rs;
        int64_t c0 = (q % groups) * cpg;
        for (int64_t c = 0; c < cpg; c++) {
            float scale = rs * (w ? w[c0 + c] : 1.0f);
            float shift = (b ? b[c0 + c] : 0.0f) - m * scale;
            const float *xs = xq + c * spatial;
            float *restrict ys = yq + c * spatial;
            for (int64_t s = 0; s < spatial; s++) ys[s] = xs[s] * scale + shift;
        }
    }
}
