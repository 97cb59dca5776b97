#pragma once
// Batch normalisation on CUDA for channels-last tensors (x, y and their gradients are
// [N * H * W, C] in memory): the twins of kernels/cpu/norm_nhwc.h. With C innermost,
// a block owns 32 consecutive channels and its rows of threads stride over N * H * W,
// so each warp reads one row's 32 channels in a single coalesced access; statistics
// accumulate in f64, two passes for the variance. Instantiated for float, double,
// bf16_t and f16_t.
#include <cuda_runtime_api.h>

#include "kernels/params.h"

namespace engine::kernels {

template <class T>
void batchnorm2d_fwd_nhwc_cuda(const BatchNormParams& p, T* y, T* save_mean, T* save_invstd, const T* x,
                               const T* gamma, const T* beta, T* running_mean, T* running_var, cudaStream_t stream);
template <class T>
void batchnorm2d_bwd_nhwc_cuda(const BatchNormParams& p, T* gx, T* ggamma, T* gbeta, const T* gy, const T* x,
                               const T* gamma, const T* save_mean, const T* save_invstd, cudaStream_t stream);

}  // namespace engine::kernels
