#pragma once
// Softmax, log-softmax and the fused cross-entropy on CUDA (the twins of
// kernels/cpu/softmax.h, same formulas). Rows along the middle axis of [outer, n, inner]:
// a warp or a block per row when inner == 1, a thread per column otherwise.
// Instantiated for float, double, bf16_t and f16_t.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/check.h"

namespace engine::kernels {

template <class T>
void softmax_fwd_cuda(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool log, cudaStream_t stream);
template <class T>
void softmax_bwd_cuda(T* gx, const T* gy, const T* y, int64_t outer, int64_t n, int64_t inner, bool log,
                      cudaStream_t stream);
// row_loss: device scratch of N doubles. A label outside [0, C) is reported to `err`
// and makes its row's loss and lse NaN.
template <class T>
void cross_entropy_fwd_cuda(T* loss, T* lse, const T* logits, const int64_t* labels, int64_t N, int64_t C,
                            double label_smoothing, double* row_loss, CudaIndexError* err, cudaStream_t stream);
// gloss points at one device element.
template <class T>
void cross_entropy_bwd_cuda(T* glogits, const T* gloss, const T* logits, const int64_t* labels, const T* lse, int64_t N,
                            int64_t C, double label_smoothing, CudaIndexError* err, cudaStream_t stream);

}  // namespace engine::kernels
