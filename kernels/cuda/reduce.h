#pragma once
// CUDA reductions over the inner dimension of a contiguous [outer, inner] matrix (the
// twins of kernels/cpu/reduce.h). Instantiated for float, double, bf16_t and f16_t;
// bf16/f16/f32 accumulate in f32 by tree reduction, f64 in f64.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

// Var is two-pass (mean, then squared deviations) and divides by inner - correction.
template <class T>
void reduce_rows_cuda(ReduceOp op, T* y, const T* x, int64_t outer, int64_t inner, int64_t correction,
                      cudaStream_t stream);
// First index of the maximum of each row; a NaN counts as the maximum (the first NaN wins).
template <class T>
void argmax_rows_cuda(int64_t* y, const T* x, int64_t outer, int64_t inner, cudaStream_t stream);

}  // namespace engine::kernels
