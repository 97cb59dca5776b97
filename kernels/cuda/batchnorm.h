#pragma once
// 2-D batch normalisation on CUDA (the twin of kernels/cpu/norm.h, same semantics):
// one block per channel, statistics accumulated in f64, two passes for the variance.
// Instantiated for float, double, bf16_t and f16_t.
#include <cuda_runtime_api.h>

#include "kernels/params.h"

namespace engine::kernels {

// gamma, beta, running_mean and running_var may be null (see batchnorm2d_fwd_cpu).
template <class T>
void batchnorm2d_fwd_cuda(const BatchNormParams& p, T* y, T* save_mean, T* save_invstd, const T* x, const T* gamma,
                          const T* beta, T* running_mean, T* running_var, cudaStream_t stream);
// gamma may be null; gx, ggamma and gbeta may each be null (not wanted).
template <class T>
void batchnorm2d_bwd_cuda(const BatchNormParams& p, T* gx, T* ggamma, T* gbeta, const T* gy, const T* x,
                          const T* gamma, const T* save_mean, const T* save_invstd, cudaStream_t stream);

}  // namespace engine::kernels
