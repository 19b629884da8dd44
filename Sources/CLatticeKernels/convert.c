// f16/bf16 <-> f32. _Float16 conversions compile to F16C/AVX-512 instructions in the clones.
#include "lt_convert.h"
#include <string.h>

LT_CLONES void lt_f16_to_f32(const uint16_t *src, float *dst, int64_t n) {
    const _Float16 *h = (const _Float16 *)src;
    for (int64_t i = 0; i < n; i++) dst[i] = (float)h[i];
}

LT_CLONES void lt_f32_to_f16(const float *src, uint16_t *dst, int64_t n) {
    _Float16 *h = (_Float16 *)dst;
    for (int64_t i = 0; i < n; i++) h[i] = (_Float16)src[i];
}

LT_CLONES void lt_bf16_to_f32(const uint16_t *src, float *dst, int64_t n) {
    uint32_t *d = (uint32_t *)dst;
    for (int64_t i = 0; i < n; i++) d[i] = ((uint32_t)src[i]) << 16;
}

LT_CLONES void lt_f32_to_bf16(const float *src, uint16_t *dst, int64_t n) {
    const uint32_t *s = (const uint32_t *)src;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = s[i];
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            dst[i] = (uint16_t)((u >> 16) | 0x40u);  // quiet NaN
        } else {
            uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
            dst[i] = (uint16_t)((u + rounding) >> 16);
        }
    }
}
