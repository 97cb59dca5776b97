#pragma once
// 2-D pooling on CUDA (the twin of kernels/cpu/pool.h, same windows, tie and NaN
// rules), in both layouts: p.channels_last says whether x, y, the max-pool indices and
// the gradients are NCHW or NHWC in memory (an index is h * W + w of its plane either
// way). One thread per output element forward; one thread per input element backward,
// summing the windows that cover it: deterministic and without atomics. Threads follow
// memory order, so in NHWC consecutive threads take consecutive channels. Instantiated
// for float, double, bf16_t and f16_t.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

template <class T>
void maxpool2d_fwd_cuda(const Pool2dParams& p, T* y, int64_t* indices, const T* x, cudaStream_t stream);
// indices must come from maxpool2d_fwd with the same parameters (each lies in its window).
template <class T>
void maxpool2d_bwd_cuda(const Pool2dParams& p, T* gx, const T* gy, const int64_t* indices, cudaStream_t stream);
template <class T>
void avgpool2d_fwd_cuda(const Pool2dParams& p, T* y, const T* x, cudaStream_t stream);
template <class T>
void avgpool2d_bwd_cuda(const Pool2dParams& p, T* gx, const T* gy, cudaStream_t stream);
// y [N, C] = the mean over the hw positions of each image of x [N, hw, C] (channels
// last; the NCHW global average is a row reduction, reduce.h).
template <class T>
void global_avgpool_fwd_nhwc_cuda(T* y, const T* x, int64_t N, int64_t hw, int64_t C, cudaStream_t stream);

}  // namespace engine::kernels
