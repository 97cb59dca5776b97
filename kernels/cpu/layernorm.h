#pragma once
// CPU reference kernels of layer normalisation over the last dimension of a contiguous
// [rows, D] tensor. Statistics and sums run in double; mean and rstd are saved in T.
#include <cstdint>

namespace engine::kernels {

// y = (x - mean) * rstd * w + b per row, rstd = 1 / sqrt(var + eps) with the biased
// variance; w and b may be null (1 and 0).
template <class T>
void layer_norm_fwd_cpu(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t rows, int64_t D,
                        double eps);
// With xhat = (x - mean) * rstd and g' = gy * w:
//   gx = rstd * (g' - mean(g') - xhat * mean(g' * xhat)),  gw = sum_rows gy * xhat,  gb = sum_rows gy.
// gw and gb may be null (not wanted); w may be null (1). Column sums run over the rows
// in order, so the result does not depend on the thread count.
template <class T>
void layer_norm_bwd_cpu(T* gx, T* gw, T* gb, const T* gy, const T* x, const T* w, const T* mean, const T* rstd,
                        int64_t rows, int64_t D);

}  // namespace engine::kernels
