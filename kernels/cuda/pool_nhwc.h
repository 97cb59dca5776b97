#pragma once
// 2-D pooling on CUDA for channels-last tensors: input [N, H, W, C], output and
// max-pool indices [N, P, Q, C] in memory; the twins of kernels/cpu/pool_nhwc.h (same
// windows, ties, NaN rule and index meaning as kernels/cuda/pool.h). One thread per
// output element forward and per input element backward (summing the windows that
// cover it: deterministic, no atomics); consecutive threads take consecutive
// channels, so every access is coalesced. Instantiated for float, double, bf16_t, f16_t.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/params.h"

namespace engine::kernels {

template <class T>
void maxpool2d_fwd_nhwc_cuda(const Pool2dParams& p, T* y, int64_t* indices, const T* x, cudaStream_t stream);
template <class T>
void maxpool2d_bwd_nhwc_cuda(const Pool2dParams& p, T* gx, const T* gy, const int64_t* indices, cudaStream_t stream);
template <class T>
void avgpool2d_fwd_nhwc_cuda(const Pool2dParams& p, T* y, const T* x, cudaStream_t stream);
template <class T>
void avgpool2d_bwd_nhwc_cuda(const Pool2dParams& p, T* gx, const T* gy, cudaStream_t stream);
// y [N, C] = the mean over the hw positions of each image of x [N, hw, C].
template <class T>
void global_avgpool_fwd_nhwc_cuda(T* y, const T* x, int64_t N, int64_t hw, int64_t C, cudaStream_t stream);

}  // namespace engine::kernels
