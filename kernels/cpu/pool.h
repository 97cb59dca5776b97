#pragma once
// CPU reference kernels: 2-D pooling over dense tensors in either layout: p.channels_last
// says whether x, y, the max-pool indices and the gradients are NCHW or NHWC in memory.
// Windows start at (oh * sh - ph, ow * sw - pw); the output size uses floor division
// (no ceil mode), so every window lies inside the padded input and holds at least one
// real element when ph <= kh / 2 and pw <= kw / 2.
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

// y [N, C, P, Q]; indices (i64, h * W + w inside the input plane, in both layouts) of
// the maximum. Padding never wins. Ties: the first maximum in row-major window order;
// a NaN is a maximum (the first NaN wins) so that it propagates.
template <class T>
void maxpool2d_fwd_cpu(const Pool2dParams& p, T* y, int64_t* indices, const T* x);
// gx [N, C, H, W] = 0, then gx[plane][indices] += gy.
template <class T>
void maxpool2d_bwd_cpu(const Pool2dParams& p, T* gx, const T* gy, const int64_t* indices);

// Divisor: kh * kw when count_include_pad, else the number of in-bounds elements.
template <class T>
void avgpool2d_fwd_cpu(const Pool2dParams& p, T* y, const T* x);
template <class T>
void avgpool2d_bwd_cpu(const Pool2dParams& p, T* gx, const T* gy);

// y [N, C] = the mean of the hw positions of each (n, c) plane of x, [N, C, hw] or, when
// channels_last, [N, hw, C] in memory.
template <class T>
void global_avgpool_fwd_cpu(T* y, const T* x, int64_t N, int64_t C, int64_t hw, bool channels_last);

}  // namespace engine::kernels
