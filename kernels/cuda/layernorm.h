#pragma once
// Layer normalisation over the last dimension on CUDA (the twin of
// kernels/cpu/layernorm.h). T is the type of x, y and their gradients, P that of the
// weight, bias and their gradients: (float, float), (double, double), (bf16_t, bf16_t),
// (bf16_t, float), (f16_t, f16_t), (f16_t, float). Statistics (mean, rstd) and sums
// are kept in A = float, or double for a double x.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace engine::kernels {

// A row of up to 1024 elements is one warp's, a longer one a block's.
template <class T, class P, class A>
void layer_norm_fwd_cuda(T* y, A* mean, A* rstd, const T* x, const P* w, const P* b, int64_t rows, int64_t D,
                         double eps, cudaStream_t stream);
// Bytes of device scratch the backward needs for the column sums of gw and gb.
size_t layer_norm_bwd_cuda_scratch_bytes(int64_t rows, int64_t D, size_t acc_size);
// gw, gb may be null (not wanted), w null (1). The column sums are partial sums over
// fixed row slices added in slice order: deterministic, no atomics.
template <class T, class P, class A>
void layer_norm_bwd_cuda(T* gx, P* gw, P* gb, const T* gy, const T* x, const P* w, const A* mean, const A* rstd,
                         int64_t rows, int64_t D, void* scratch, cudaStream_t stream);

}  // namespace engine::kernels
