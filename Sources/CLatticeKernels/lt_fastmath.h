// Private: branch-free float32 exp / tanh / erfc approximations that clang can vectorise
// (every branch is a select, no libm calls). Included by the elementwise, reduce and norm
// kernels; the exported lt_fast_* wrappers let tests compare them with libm.
#ifndef LT_FASTMATH_H
#define LT_FASTMATH_H
#include <math.h>
#include <stdint.h>

typedef union {
    float f;
    int32_t i;
    uint32_t u;
} lt_bits;

static inline __attribute__((always_inline)) float lt_from_bits(int32_t i) {
    lt_bits b;
    b.i = i;
    return b.f;
}

/// exp(x): Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, degree-6 minimax polynomial for
/// exp(r) (Cephes' coefficients, ~1 ulp), then 2^n applied as two factors so results down to
/// the subnormal range stay exact. Overflow gives +inf and NaN propagates.
static inline __attribute__((always_inline)) float lt_expf_inline(float x) {
    float xc = x < -104.0f ? -104.0f : x;
    xc = xc > 88.8f ? 88.8f : xc;
    // Round-to-nearest via the 1.5 * 2^23 trick (vectorises everywhere, unlike rintf calls).
    const float magic = 12582912.0f;
    float n = (xc * 1.44269504088896341f + magic) - magic;
    // ln2 split so n * c1 is exact (c1 has 9 significant bits).
    float r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * (r * r) + r + 1.0f;
    int32_t ni = (int32_t)n;
    int32_t h = ni >> 1;
    float s1 = lt_from_bits((h + 127) << 23);
    float s2 = lt_from_bits((ni - h + 127) << 23);
    float res = (e * s1) * s2;
    res = x > 88.72283935546875f ? INFINITY : res;
    res = x != x ? x : res;
    return res;
}

/// tanh(x): odd polynomial near 0 (Cephes' tanhf coefficients) where 1 - 2/(e^{2|x|}+1)
/// would cancel, the exp form elsewhere.
static inline __attribute__((always_inline)) float lt_tanhf_inline(float x) {
    float ax = __builtin_fabsf(x);
    float e = lt_expf_inline(2.0f * ax);
    float big = 1.0f - 2.0f / (e + 1.0f);
    float x2 = x * x;
    float p = -5.70498872745e-3f;
    p = p * x2 + 2.06390887954e-2f;
    p = p * x2 - 5.37397155531e-2f;
    p = p * x2 + 1.33314422036e-1f;
    p = p * x2 - 3.33332819422e-1f;
    float small = x + x * x2 * p;
    return ax < 0.625f ? small : __builtin_copysignf(big, x);
}

/// erfc(z) for z >= 0: t·exp(-z² + P(t)), t = 1/(1 + z/2), with the Chebyshev-fitted P of
/// Numerical Recipes' erfcc (fractional error < 1.2e-7). z² is split exactly (Veltkamp-style)
/// and -z² + P is summed with its rounding error kept, so the relative error stays ~1e-6 deep
/// into the tail instead of growing with z².
static inline __attribute__((always_inline)) float lt_erfc_pos_inline(float z) {
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    lt_bits zb;
    zb.f = z;
    zb.u &= 0xfffff000u;
    float zh = zb.f;
    float zl = z - zh;
    float hi = zh * zh;            // exact: zh has 12 significant bits
    float lo = zl * (zh + z);      // z² - zh²
    float s = p - lo;
    // TwoSum(-hi, s): a + err == -hi + s exactly.
    float a = s - hi;
    float bb = a + hi;
    float err = (s - bb) + (-hi - (a - bb));
    float res = t * lt_expf_inline(a) * (1.0f + err);
    return z > 10.0f ? 0.0f : res;
}

/// Standard normal CDF Φ(x) = erfc(-x/√2)/2, accurate in both tails.
static inline __attribute__((always_inline)) float lt_normcdf_inline(float x) {
    float c = lt_erfc_pos_inline(__builtin_fabsf(x) * 0.70710678118654752f);
    return x >= 0.0f ? 1.0f - 0.5f * c : 0.5f * c;
}

#endif
