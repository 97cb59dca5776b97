#pragma once
// CPU reductions over the inner dimension of a contiguous [outer, inner] matrix.
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

// Accumulates in double. Var uses two passes and divides by inner - correction.
template <class T>
void reduce_rows_cpu(ReduceOp op, T* y, const T* x, int64_t outer, int64_t inner, int64_t correction);
// First index of the maximum of each row (NaN counts as the maximum).
template <class T>
void argmax_rows_cpu(int64_t* y, const T* x, int64_t outer, int64_t inner);

}  // namespace engine::kernels
