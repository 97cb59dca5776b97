#pragma once
// Batch normalisation with a fused epilogue on CUDA (the twin of kernels/cpu/norm_act.h,
// same semantics): y = act(gamma * xhat + beta [+ residual]). T is the activation type
// (x, residual, y, gradients), P the type of gamma, beta and the statistics: (float,
// float), (double, double), (bf16_t, bf16_t), (bf16_t, float), (f16_t, f16_t), (f16_t, float).
#include <cuda_runtime_api.h>

#include <cstddef>

#include "base/params.h"

namespace engine::kernels {

// Bytes of device scratch both kernels need for p (per-slice partial sums and the
// per-channel coefficients of the elementwise pass); the caller keeps it alive until
// the stream has run the call.
size_t batchnorm2d_act_cuda_scratch_bytes(const BatchNormActParams& p);

// residual, gamma, beta may be null; running_mean/running_var are updated in training
// when given and required in eval.
template <class T, class P>
void batchnorm2d_act_fwd_cuda(const BatchNormActParams& p, T* y, P* save_mean, P* save_invstd, const T* x,
                              const T* residual, const P* gamma, const P* beta, P* running_mean, P* running_var,
                              double* scratch, cudaStream_t stream);
// y is read only with relu; gx, ggamma, gbeta, gresidual may each be null (not wanted).
template <class T, class P>
void batchnorm2d_act_bwd_cuda(const BatchNormActParams& p, T* gx, P* ggamma, P* gbeta, T* gresidual, const T* gy,
                              const T* y, const T* x, const P* gamma, const P* save_mean, const P* save_invstd,
                              double* scratch, cudaStream_t stream);

}  // namespace engine::kernels
