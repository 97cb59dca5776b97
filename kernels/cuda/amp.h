#pragma once
// Loss-scaling support on CUDA (the twin of kernels/cpu/amp.h): unscale one gradient
// in place, raising a device-side found-inf flag without a host synchronisation.
// Instantiated for float, double, bf16_t and f16_t.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace engine::kernels {

template <class T>
void amp_unscale_cuda(T* g, int64_t n, double inv_scale, float* found_inf, cudaStream_t stream);

}  // namespace engine::kernels
