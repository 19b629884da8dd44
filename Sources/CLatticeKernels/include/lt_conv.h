// Patch extraction for dense convolutions: vol2col (gather input patches into GEMM columns) and
// col2vol (scatter-add columns back into a volume). 2-D convolutions use depth 1.
#ifndef LT_CONV_H
#define LT_CONV_H
#include "lt_common.h"
#ifdef __cplusplus
extern "C" {
#endif

/// Geometry of one dense 3-D convolution over a [C, D, H, W] volume producing [Do, Ho, Wo].
typedef struct {
    int64_t c, d, h, w;        // input channels (of this call) and extent
    int64_t kd, kh, kw;        // kernel extent
    int64_t sd, sh, sw;        // stride
    int64_t pd, ph, pw;        // zero padding
    int64_t dd, dh, dw;        // dilation
    int64_t od, oh, ow;        // output extent
} lt_conv_geom;

/// Writes columns p0..<p1 (flattened output positions) of the patch matrix
/// col[(c*kd + a)*kh + b)*kw + e][p - p0] (row length p1 - p0) from volume x [C, D, H, W].
/// Out-of-volume taps are zero.
void lt_vol2col(const float *x, const lt_conv_geom *g, int64_t p0, int64_t p1, float *col);

/// The transpose of lt_vol2col: adds every column entry back into x [C, D, H, W].
void lt_col2vol(const float *col, const lt_conv_geom *g, int64_t p0, int64_t p1, float *x);

#ifdef __cplusplus
}
#endif
#endif
