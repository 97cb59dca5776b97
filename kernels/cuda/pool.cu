#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/pool.h"

namespace engine::kernels {
namespace {

struct Window {
  int64_t h0, h1, w0, w1;
};

// In-bounds rows [h0, h1) and columns [w0, w1) of the window of output (oh, ow).
__device__ __forceinline__ Window window(const Pool2dParams& p, int64_t oh, int64_t ow) {
  int64_t hs = oh * p.sh - p.ph, ws = ow * p.sw - p.pw;
  return {hs > 0 ? hs : 0, hs + p.kh < p.H ? hs + p.kh : p.H, ws > 0 ? ws : 0, ws + p.kw < p.W ? ws + p.kw : p.W};
}

__device__ __forceinline__ int64_t avg_divisor(const Pool2dParams& p, const Window& w) {
  return p.count_include_pad ? p.kh * p.kw : (w.h1 - w.h0) * (w.w1 - w.w0);
}

// Element i, in memory order, of a [N, C, X, Y] tensor laid out NCHW or NHWC (channels
// last): the start of its (n, c) plane and the plane's step between positions, so that
// position (a, b) of the plane is at plane + (a * Y + b) * step, and its (a, b).
struct PlaneSlot {
  int64_t plane, step, a, b;
};
__device__ __forceinline__ PlaneSlot plane_slot(int64_t i, int64_t C, int64_t X, int64_t Y, bool nhwc) {
  if (nhwc) {
    int64_t c = i % C, b = (i / C) % Y, a = (i / (C * Y)) % X, n = i / (C * Y * X);
    return {n * X * Y * C + c, C, a, b};
  }
  int64_t b = i % Y, a = (i / Y) % X, plane = i / (X * Y);
  return {plane * X * Y, 1, a, b};
}

// The same (n, c) plane in a tensor of to_hw positions per plane instead of from_hw.
__device__ __forceinline__ int64_t move_plane(int64_t plane, int64_t step, int64_t from_hw, int64_t to_hw) {
  int64_t span = from_hw * step;
  return plane / span * (to_hw * step) + plane % span;
}

// Outputs [lo, hi] along one axis whose windows contain input position h.
__device__ __forceinline__ void covering(int64_t h, int64_t pad, int64_t k, int64_t s, int64_t n_out, int64_t& lo,
                                         int64_t& hi) {
  int64_t a = h + pad - k + 1;
  lo = a <= 0 ? 0 : (a + s - 1) / s;
  hi = (h + pad) / s;
  if (hi > n_out - 1) hi = n_out - 1;
}

// One thread per output element; in NHWC consecutive threads take consecutive channels,
// so every access is coalesced in both layouts.
template <class T>
__global__ void maxpool_fwd_kernel(Pool2dParams p, T* y, int64_t* indices, const T* x) {
  using A = acc_t<T>;
  const int64_t total = p.N * p.C * p.P * p.Q;
  ENGINE_GRID_STRIDE(o, total) {
    PlaneSlot s = plane_slot(o, p.C, p.P, p.Q, p.channels_last);
    const T* xp = x + move_plane(s.plane, s.step, p.P * p.Q, p.H * p.W);
    Window w = window(p, s.a, s.b);
    int64_t best = -1;
    A bv = A(0);
    for (int64_t h = w.h0; h < w.h1; ++h)
      for (int64_t c = w.w0; c < w.w1; ++c) {
        A v = to_acc(xp[(h * p.W + c) * s.step]);
        if (best < 0 || (!d_isnan(bv) && (v > bv || d_isnan(v)))) {
          best = h * p.W + c;
          bv = v;
        }
      }
    y[o] = best < 0 ? from_acc<T>(-d_inf<A>()) : xp[best * s.step];
    indices[o] = best < 0 ? 0 : best;
  }
}

// One thread per input element, summing over the windows that cover it.
template <class T>
__global__ void maxpool_bwd_kernel(Pool2dParams p, T* gx, const T* gy, const int64_t* indices) {
  using A = acc_t<T>;
  const int64_t total = p.N * p.C * p.H * p.W;
  ENGINE_GRID_STRIDE(i, total) {
    PlaneSlot in = plane_slot(i, p.C, p.H, p.W, p.channels_last);
    const int64_t out_plane = move_plane(in.plane, in.step, p.H * p.W, p.P * p.Q);
    int64_t oh0, oh1, ow0, ow1;
    covering(in.a, p.ph, p.kh, p.sh, p.P, oh0, oh1);
    covering(in.b, p.pw, p.kw, p.sw, p.Q, ow0, ow1);
    const int64_t me = in.a * p.W + in.b;
    A s = A(0);
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        int64_t o = out_plane + (oh * p.Q + ow) * in.step;
        if (indices[o] == me) s += to_acc(gy[o]);
      }
    gx[i] = from_acc<T>(s);
  }
}

template <class T>
__global__ void avgpool_fwd_kernel(Pool2dParams p, T* y, const T* x) {
  using A = acc_t<T>;
  const int64_t total = p.N * p.C * p.P * p.Q;
  ENGINE_GRID_STRIDE(o, total) {
    PlaneSlot s = plane_slot(o, p.C, p.P, p.Q, p.channels_last);
    const T* xp = x + move_plane(s.plane, s.step, p.P * p.Q, p.H * p.W);
    Window w = window(p, s.a, s.b);
    A sum = A(0);
    for (int64_t h = w.h0; h < w.h1; ++h)
      for (int64_t c = w.w0; c < w.w1; ++c) sum += to_acc(xp[(h * p.W + c) * s.step]);
    int64_t d = avg_divisor(p, w);
    y[o] = from_acc<T>(d > 0 ? sum / A(d) : A(0));
  }
}

template <class T>
__global__ void avgpool_bwd_kernel(Pool2dParams p, T* gx, const T* gy) {
  using A = acc_t<T>;
  const int64_t total = p.N * p.C * p.H * p.W;
  ENGINE_GRID_STRIDE(i, total) {
    PlaneSlot in = plane_slot(i, p.C, p.H, p.W, p.channels_last);
    const T* gp = gy + move_plane(in.plane, in.step, p.H * p.W, p.P * p.Q);
    int64_t oh0, oh1, ow0, ow1;
    covering(in.a, p.ph, p.kh, p.sh, p.P, oh0, oh1);
    covering(in.b, p.pw, p.kw, p.sw, p.Q, ow0, ow1);
    A s = A(0);
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        int64_t d = avg_divisor(p, window(p, oh, ow));
        if (d > 0) s += to_acc(gp[(oh * p.Q + ow) * in.step]) / A(d);
      }
    gx[i] = from_acc<T>(s);
  }
}

// Channels-last global average: one thread per (n, c); neighbouring threads read
// neighbouring channels of a position. (NCHW is a row reduction, reduce.h.)
template <class T>
__global__ void global_avgpool_nhwc_kernel(T* y, const T* x, int64_t N, int64_t hw, int64_t C) {
  using A = acc_t<T>;
  ENGINE_GRID_STRIDE(o, N * C) {
    int64_t c = o % C, n = o / C;
    const T* xn = x + n * hw * C + c;
    A s = A(0);
    for (int64_t i = 0; i < hw; ++i) s += to_acc(xn[i * C]);
    y[o] = from_acc<T>(s / A(hw));
  }
}

}  // namespace

template <class T>
void maxpool2d_fwd_cuda(const Pool2dParams& p, T* y, int64_t* indices, const T* x, cudaStream_t stream) {
  int64_t n = p.N * p.C * p.P * p.Q;
  if (n == 0) return;
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, maxpool_fwd_kernel<T>)(p, y, indices, x);
  ENGINE_CUDA_LAUNCH_CHECK("maxpool_fwd_kernel");
}

template <class T>
void maxpool2d_bwd_cuda(const Pool2dParams& p, T* gx, const T* gy, const int64_t* indices, cudaStream_t stream) {
  int64_t n = p.N * p.C * p.H * p.W;
  if (n == 0) return;
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, maxpool_bwd_kernel<T>)(p, gx, gy, indices);
  ENGINE_CUDA_LAUNCH_CHECK("maxpool_bwd_kernel");
}

template <class T>
void avgpool2d_fwd_cuda(const Pool2dParams& p, T* y, const T* x, cudaStream_t stream) {
  int64_t n = p.N * p.C * p.P * p.Q;
  if (n == 0) return;
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, avgpool_fwd_kernel<T>)(p, y, x);
  ENGINE_CUDA_LAUNCH_CHECK("avgpool_fwd_kernel");
}

template <class T>
void avgpool2d_bwd_cuda(const Pool2dParams& p, T* gx, const T* gy, cudaStream_t stream) {
  int64_t n = p.N * p.C * p.H * p.W;
  if (n == 0) return;
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, avgpool_bwd_kernel<T>)(p, gx, gy);
  ENGINE_CUDA_LAUNCH_CHECK("avgpool_bwd_kernel");
}

template <class T>
void global_avgpool_fwd_nhwc_cuda(T* y, const T* x, int64_t N, int64_t hw, int64_t C, cudaStream_t stream) {
  if (N * C == 0) return;
  ENGINE_LAUNCH(grid_for(N * C), kBlock, 0, stream, global_avgpool_nhwc_kernel<T>)(y, x, N, hw, C);
  ENGINE_CUDA_LAUNCH_CHECK("global_avgpool_nhwc_kernel");
}

#define INSTANTIATE(T)                                                                                  \
  template void maxpool2d_fwd_cuda<T>(const Pool2dParams&, T*, int64_t*, const T*, cudaStream_t);       \
  template void maxpool2d_bwd_cuda<T>(const Pool2dParams&, T*, const T*, const int64_t*, cudaStream_t); \
  template void avgpool2d_fwd_cuda<T>(const Pool2dParams&, T*, const T*, cudaStream_t);                 \
  template void avgpool2d_bwd_cuda<T>(const Pool2dParams&, T*, const T*, cudaStream_t);                 \
  template void global_avgpool_fwd_nhwc_cuda<T>(T*, const T*, int64_t, int64_t, int64_t, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
