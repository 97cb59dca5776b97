#include "kernels/cpu/gelu_f32.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/target_clones.h"

namespace engine::kernels {
namespace {

constexpr int64_t kChunk = 1 << 14;  // elements per thread task

// e^x for x <= 0, and 0 below -87 (where e^x is about 1.6e-38) or for NaN (the
// callers' other factor carries it): x = n ln2 + r with |r| <= ln2 / 2, e^r by its
// Taylor polynomial of degree 7 (relative error below 6e-9), 2^n through the exponent
// bits. Arguments outside [-87, 0] are clamped first, so the conversion to int is exact.
inline float exp_nonpositive(float a) {
  const bool in_range = a >= -87.0f;
  float x = in_range ? a : -87.0f;
  x = x > 0.0f ? 0.0f : x;
  const float shift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504088896341f + shift) - shift;
  // ln2 in two parts: n times the first is exact for |n| < 2^8.
  const float r = (x - n * 0.693145751953125f) - n * 1.428606820309417e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (int32_t(n) + 127) * (int32_t(1) << 23);
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return in_range ? p * scale : 0.0f;
}

// Phi(x) given e = exp(-x^2 / 2). The upper tail P(X > |x|) = erfc(|x| / sqrt 2) / 2 is
// Abramowitz and Stegun 7.1.26's t (a1 + t (a2 + ...)) e^{-z^2} with z = |x| / sqrt 2, so
// Phi of a negative x is the tail itself, without the cancellation of 1 + erf.
inline float normal_cdf(float x, float e) {
  const float z = (x < 0.0f ? -x : x) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.3275911f * z);
  float q = 1.061405429f;
  q = q * t - 1.453152027f;
  q = q * t + 1.421413741f;
  q = q * t - 0.284496736f;
  q = q * t + 0.254829592f;
  const float tail = 0.5f * (q * t) * e;
  return x < 0.0f ? tail : 1.0f - tail;
}

ENGINE_CLONES void gelu_block(float* y, const float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    y[i] = v * normal_cdf(v, exp_nonpositive(-0.5f * v * v));
  }
}

ENGINE_CLONES void gelu_bwd_block(float* gx, const float* gy, const float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i], e = exp_nonpositive(-0.5f * v * v);
    gx[i] = gy[i] * (normal_cdf(v, e) + v * e * 0.39894228040143267794f);
  }
}

}  // namespace

void gelu_f32_cpu(float* y, const float* x, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 2 * kChunk)
  for (int64_t b = 0; b < n; b += kChunk) gelu_block(y + b, x + b, std::min(kChunk, n - b));
}

void gelu_bwd_f32_cpu(float* gx, const float* gy, const float* x, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 2 * kChunk)
  for (int64_t b = 0; b < n; b += kChunk) gelu_bwd_block(gx + b, gy + b, x + b, std::min(kChunk, n - b));
}

}  // namespace engine::kernels
