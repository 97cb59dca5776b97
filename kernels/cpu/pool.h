#pragma once
// CPU reference kernels: 2-D pooling over contiguous NCHW tensors. Windows start at
// (oh * sh - ph, ow * sw - pw); the output size uses floor division (no ceil mode),
// so every window lies inside the padded input and holds at least one real element
// when ph <= kh / 2 and pw <= kw / 2.
#include <cstdint>

#include "kernels/params.h"

namespace engine::kernels {

// y [N, C, P, Q]; indices (i64, flat h * W + w inside the input plane) of the maximum.
// Padding never wins. Ties: the first maximum in row-major window order; a NaN is a
// maximum (the first NaN wins) so that it propagates.
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

// y [planes] = mean of each contiguous plane of hw elements (planes = N * C).
template <class T>
void global_avgpool_fwd_cpu(T* y, const T* x, int64_t planes, int64_t hw);

}  // namespace engine::kernels
