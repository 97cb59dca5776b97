#include "kernels/cpu/convert.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/target_clones.h"

namespace engine::kernels {
namespace {

constexpr int64_t kChunk = 1 << 14;  // elements per thread task

ENGINE_CLONES void to_bf16(uint16_t* __restrict dst, const float* __restrict src, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &src[i], 4);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
    dst[i] = uint16_t(nan ? ((u >> 16) | 0x40u) : rounded);
  }
}

ENGINE_CLONES void to_f32(float* __restrict dst, const uint16_t* __restrict src, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = uint32_t(src[i]) << 16;
    std::memcpy(&dst[i], &u, 4);
  }
}

}  // namespace

void f32_to_bf16_cpu(uint16_t* dst, const float* src, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 4 * kChunk)
  for (int64_t b = 0; b < n; b += kChunk) to_bf16(dst + b, src + b, std::min(kChunk, n - b));
}

void bf16_to_f32_cpu(float* dst, const uint16_t* src, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 4 * kChunk)
  for (int64_t b = 0; b < n; b += kChunk) to_f32(dst + b, src + b, std::min(kChunk, n - b));
}

void f32_to_bf16_serial(uint16_t* dst, const float* src, int64_t n) { to_bf16(dst, src, n); }
void bf16_to_f32_serial(float* dst, const uint16_t* src, int64_t n) { to_f32(dst, src, n); }

}  // namespace engine::kernels
