// vol2col / col2vol for dense convolutions (see lt_conv.h). Rows are walked output-row by
// output-row so that, for each kernel tap, the valid output columns form one contiguous range:
// the loop body is then a plain strided copy (a memcpy for stride 1) with zero fill at the edges.
#include "lt_conv.h"
#include <string.h>

// Range [lo, hi) of output indices o with 0 <= o*s + off < n.
static inline void valid_range(int64_t off, int64_t s, int64_t n, int64_t count, int64_t *lo,
                               int64_t *hi) {
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = n - off <= 0 ? 0 : (n - off + s - 1) / s;
    if (a > count) a = count;
    if (b > count) b = count;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

LT_CLONES void lt_vol2col(const float *x, const lt_conv_geom *g, int64_t p0, int64_t p1,
                          float *col) {
    const int64_t len = p1 - p0;
    const int64_t plane = g->oh * g->ow;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t a = 0; a < g->kd; a++)
            for (int64_t b = 0; b < g->kh; b++)
                for (int64_t e = 0; e < g->kw; e++) {
                    float *row = col + (((c * g->kd + a) * g->kh + b) * g->kw + e) * len;
                    const int64_t offw = e * g->dw - g->pw;
                    int64_t lo, hi;
                    valid_range(offw, g->sw, g->w, g->ow, &lo, &hi);
                    int64_t p = p0;
                    while (p < p1) {
                        const int64_t od = p / plane, oh = (p / g->ow) % g->oh, ow0 = p % g->ow;
                        const int64_t seg = (g->ow - ow0) < (p1 - p) ? (g->ow - ow0) : (p1 - p);
                        float *dst = row + (p - p0);
                        const int64_t id = od * g->sd - g->pd + a * g->dd;
                        const int64_t ih = oh * g->sh - g->ph + b * g->dh;
                        if (id < 0 || id >= g->d || ih < 0 || ih >= g->h) {
                            memset(dst, 0, (size_t)seg * sizeof(float));
                        } else {
                            const float *src = x + ((c * g->d + id) * g->h + ih) * g->w;
                            int64_t i0 = lo - ow0 > 0 ? lo - ow0 : 0;
                            int64_t i1 = hi - ow0 < seg ? hi - ow0 : seg;
                            if (i1 < i0) i1 = i0;
                            if (i0 > 0) memset(dst, 0, (size_t)i0 * sizeof(float));
                            if (g->sw == 1) {
                                memcpy(dst + i0, src + ow0 + i0 + offw,
                                       (size_t)(i1 - i0) * sizeof(float));
                            } else {
                                for (int64_t i = i0; i < i1; i++)
                                    dst[i] = src[(ow0 + i) * g->sw + offw];
                            }
                            if (i1 < seg) memset(dst + i1, 0, (size_t)(seg - i1) * sizeof(float));
                        }
                        p += seg;
                    }
                }
}

LT_CLONES void lt_col2vol(const float *col, const lt_conv_geom *g, int64_t p0, int64_t p1,
                          float *x) {
    const int64_t len = p1 - p0;
    const int64_t plane = g->oh * g->ow;
    for (int64_t c = 0; c < g->c; c++)
        for (int64_t a = 0; a < g->kd; a++)
            for (int64_t b = 0; b < g->kh; b++)
                for (int64_t e = 0; e < g->kw; e++) {
                    const float *row = col + (((c * g->kd + a) * g->kh + b) * g->kw + e) * len;
                    const int64_t offw = e * g->dw - g->pw;
                    int64_t lo, hi;
                    valid_range(offw, g->sw, g->w, g->ow, &lo, &hi);
                    int64_t p = p0;
                    while (p < p1) {
                        const int64_t od = p / plane, oh = (p / g->ow) % g->oh, ow0 = p % g->ow;
                        const int64_t seg = (g->ow - ow0) < (p1 - p) ? (g->ow - ow0) : (p1 - p);
                        const float *src = row + (p - p0);
                        const int64_t id = od * g->sd - g->pd + a * g->dd;
                        const int64_t ih = oh * g->sh - g->ph + b * g->dh;
                        if (!(id < 0 || id >= g->d || ih < 0 || ih >= g->h)) {
                            float *dst = x + ((c * g->d + id) * g->h + ih) * g->w;
                            int64_t i0 = lo - ow0 > 0 ? lo - ow0 : 0;
                            int64_t i1 = hi - ow0 < seg ? hi - ow0 : seg;
                            for (int64_t i = i0; i < i1; i++)
                                dst[(ow0 + i) * g->sw + offw] += src[i];
                        }
                        p += seg;
                    }
                }
}
