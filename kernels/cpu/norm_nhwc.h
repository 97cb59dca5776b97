#pragma once
// CPU batch normalisation over channels-last tensors: x, y and their gradients are
// [N * H * W, C] row-major in memory (C innermost). Same semantics and arguments as
// batchnorm2d_fwd_cpu / batchnorm2d_bwd_cpu in kernels/cpu/norm.h; statistics
// accumulate in double.
#include <cstdint>

#include "kernels/params.h"

namespace engine::kernels {

template <class T>
void batchnorm2d_fwd_nhwc_cpu(const BatchNormParams& p, T* y, T* save_mean, T* save_invstd, const T* x,
                              const T* gamma, const T* beta, T* running_mean, T* running_var);

template <class T>
void batchnorm2d_bwd_nhwc_cpu(const BatchNormParams& p, T* gx, T* ggamma, T* gbeta, const T* gy, const T* x,
                              const T* gamma, const T* save_mean, const T* save_invstd);

}  // namespace engine::kernels
