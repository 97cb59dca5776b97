#pragma once
// CPU reference kernels of 2-D convolution (NCHW, weights [K, C/groups, R, S]):
// im2col + GEMM (OpenBLAS). Stride, zero padding, dilation and groups.
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

// y [N, K, P, Q] = conv(x [N, C, H, W], w) + bias [K]; bias may be null.
template <class T>
void conv2d_fwd_cpu(T* y, const T* x, const T* w, const T* bias, const Conv2dParams& p);

// gx [N, C, H, W] = gradient of the convolution with respect to x, given gy [N, K, P, Q].
template <class T>
void conv2d_bwd_data_cpu(T* gx, const T* gy, const T* w, const Conv2dParams& p);

// gw [K, C/groups, R, S] = gradient with respect to w (overwritten, not accumulated).
template <class T>
void conv2d_bwd_filter_cpu(T* gw, const T* gy, const T* x, const Conv2dParams& p);

}  // namespace engine::kernels
