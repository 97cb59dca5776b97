#pragma once
// CPU reference kernels: 2-D batch normalisation over dense NCHW or channels-last
// tensors (BatchNormParams::channels_last). Statistics are per channel over N*H*W
// elements and accumulate in double. Both run the fused kernels of kernels/cpu/norm_act.h
// without their epilogue.
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

// Training: normalises with the batch mean and biased variance, writes them to
// save_mean and save_invstd = 1/sqrt(var + eps), and, when running_mean/running_var
// are given, updates them in place: r = (1 - momentum) r + momentum * batch, with the
// unbiased variance (PyTorch semantics). Eval: normalises with the running statistics
// (required) and writes them, as mean and invstd, to save_mean / save_invstd.
// gamma and beta may be null (scale 1, shift 0).
template <class T>
void batchnorm2d_fwd_cpu(const BatchNormParams& p, T* y, T* save_mean, T* save_invstd, const T* x, const T* gamma,
                         const T* beta, T* running_mean, T* running_var);

// gbeta = sum gy; ggamma = sum gy * xhat with xhat = (x - mean) * invstd.
// Training (statistics depend on x): gx = gamma * invstd / M * (M gy - gbeta - xhat ggamma), M = N*H*W.
// Eval (statistics are constants): gx = gy * gamma * invstd.
// gamma may be null (1); ggamma and gbeta may be null (not wanted).
template <class T>
void batchnorm2d_bwd_cpu(const BatchNormParams& p, T* gx, T* ggamma, T* gbeta, const T* gy, const T* x, const T* gamma,
                         const T* save_mean, const T* save_invstd);

}  // namespace engine::kernels
