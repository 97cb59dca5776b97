#pragma once
// CPU pooling over channels-last tensors: input [N, H, W, C], output (and max-pool
// indices) [N, P, Q, C] in memory. Same windows, ties, NaN rule, divisors and index
// meaning (h * W + w inside the input plane) as kernels/cpu/pool.h.
#include <cstdint>

#include "kernels/params.h"

namespace engine::kernels {

template <class T>
void maxpool2d_fwd_nhwc_cpu(const Pool2dParams& p, T* y, int64_t* indices, const T* x);
template <class T>
void maxpool2d_bwd_nhwc_cpu(const Pool2dParams& p, T* gx, const T* gy, const int64_t* indices);
template <class T>
void avgpool2d_fwd_nhwc_cpu(const Pool2dParams& p, T* y, const T* x);
template <class T>
void avgpool2d_bwd_nhwc_cpu(const Pool2dParams& p, T* gx, const T* gy);
// y [N, C] = the mean over the hw positions of each image of x [N, hw, C].
template <class T>
void global_avgpool_fwd_nhwc_cpu(T* y, const T* x, int64_t N, int64_t hw, int64_t C);

}  // namespace engine::kernels
