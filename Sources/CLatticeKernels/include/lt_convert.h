// Storage dtype conversions (f16/bf16 <-> f32), vectorised per ISA.
#ifndef LT_CONVERT_H
#define LT_CONVERT_H
#include "lt_common.h"
#ifdef __cplusplus
extern "C" {
#endif
void lt_f16_to_f32(const uint16_t *src, float *dst, int64_t n);
void lt_f32_to_f16(const float *src, uint16_t *dst, int64_t n);
void lt_bf16_to_f32(const uint16_t *src, float *dst, int64_t n);
/// Round-to-nearest-even, NaN preserved (as PyTorch's float -> bfloat16).
void lt_f32_to_bf16(const float *src, uint16_t *dst, int64_t n);
#ifdef __cplusplus
}
#endif
#endif
