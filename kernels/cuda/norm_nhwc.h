#pragma once
// Batch normalisation on CUDA for channels-last tensors (x, y and their gradients are
// [M = N * H * W, C] in memory): the twins of kernels/cpu/norm_nhwc.h. With C innermost
// a block owns 32 consecutive channels (threadIdx.x) and 16 rows of threads stride over
// a slice of the M rows, so each warp reads one row's 32 channels in one coalesced
// access. The rows are split over gridDim.y blocks so that a small C still fills the GPU:
// each block writes per-channel partial sums (f64) to `scratch`, and the next kernel
// adds the partials of its channel in a fixed order (deterministic). Forward training:
// sums, then centred squares, then normalise (three launches); eval: one launch;
// backward: sums of gy and gy * xhat, then gx (two launches). Instantiated for float,
// double, bf16_t and f16_t.
#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels/params.h"

namespace engine::kernels {

// Device memory the kernels below need in `scratch` (8-byte aligned).
size_t batchnorm2d_nhwc_scratch_bytes(const BatchNormParams& p);

template <class T>
void batchnorm2d_fwd_nhwc_cuda(const BatchNormParams& p, T* y, T* save_mean, T* save_invstd, const T* x,
                               const T* gamma, const T* beta, T* running_mean, T* running_var, double* scratch,
                               cudaStream_t stream);
template <class T>
void batchnorm2d_bwd_nhwc_cuda(const BatchNormParams& p, T* gx, T* ggamma, T* gbeta, const T* gy, const T* x,
                               const T* gamma, const T* save_mean, const T* save_invstd, double* scratch,
                               cudaStream_t stream);

}  // namespace engine::kernels
