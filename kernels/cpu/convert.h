#pragma once
// Dense f32 <-> bf16 conversions over n contiguous elements, threaded and vectorised
// (compiled for AVX-512, AVX2 and baseline x86-64, picked at run time). bf16 rounds to
// nearest even and keeps NaN a NaN, exactly as float_to_bf16 (base/dtype.h).
#include <cstdint>

namespace engine::kernels {

void f32_to_bf16_cpu(uint16_t* dst, const float* src, int64_t n);
void bf16_to_f32_cpu(float* dst, const uint16_t* src, int64_t n);

// The same on the calling thread only, for blocks that kernels stage through a cache-sized
// f32 buffer (norm_act_f32.cpp).
void f32_to_bf16_serial(uint16_t* dst, const float* src, int64_t n);
void bf16_to_f32_serial(float* dst, const uint16_t* src, int64_t n);

}  // namespace engine::kernels
