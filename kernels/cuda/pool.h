#pragma once
// 2-D pooling on CUDA (the twin of kernels/cpu/pool.h, same windows, tie and NaN
// rules). One thread per output element forward; one thread per input element
// backward, summing the windows that cover it: deterministic and without atomics.
// Instantiated for float, double, bf16_t and f16_t.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/params.h"

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

}  // namespace engine::kernels
