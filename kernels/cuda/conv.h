#pragma once
// 2-D convolution through cuDNN (the twins of kernels/cpu/conv.h): NCHW, weights
// [K, C/groups, R, S], stride, zero padding, dilation and groups. The algorithm is
// picked once per shape, dtype and direction (cuDNN's heuristics) and cached; its
// workspace comes from `scratch`. f32, f64, bf16 and f16 (bf16/f16 accumulate in f32);
// f32 runs on TF32 tensor cores only when `tf32` is set. With p.channels_last, x, y
// and their gradients are NHWC (CUDNN_TENSOR_NHWC descriptors) while the filters stay
// KCRS: parameters, checkpoints and the optimizer see one layout, at the price of
// cuDNN picking among fewer of its fastest NHWC kernels (which want KRSC filters).
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstddef>
#include <functional>

#include "base/dtype.h"
#include "base/params.h"

namespace engine::kernels {

// Returns device memory of at least n bytes, valid for work queued next on the stream.
using ScratchFn = std::function<void*(size_t n)>;

// y [N, K, P, Q] = conv(x, w) + bias [K]; bias may be null.
void conv2d_fwd_cuda(cudnnHandle_t handle, DType dtype, void* y, const void* x, const void* w, const void* bias,
                     const Conv2dParams& p, bool tf32, const ScratchFn& scratch, cudaStream_t stream);
// gx [N, C, H, W] from gy [N, K, P, Q] and w.
void conv2d_bwd_data_cuda(cudnnHandle_t handle, DType dtype, void* gx, const void* gy, const void* w,
                          const Conv2dParams& p, bool tf32, const ScratchFn& scratch, cudaStream_t stream);
// gw [K, C/groups, R, S] (overwritten) from gy and x.
void conv2d_bwd_filter_cuda(cudnnHandle_t handle, DType dtype, void* gw, const void* gy, const void* x,
                            const Conv2dParams& p, bool tf32, const ScratchFn& scratch, cudaStream_t stream);

}  // namespace engine::kernels
