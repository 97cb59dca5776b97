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

// Outputs [lo, hi] along one axis whose windows contain input position h.
__device__ __forceinline__ void covering(int64_t h, int64_t pad, int64_t k, int64_t s, int64_t n_out, int64_t& lo,
                                         int64_t& hi) {
  int64_t a = h + pad - k + 1;
  lo = a <= 0 ? 0 : (a + s - 1) / s;
  hi = (h + pad) / s;
  if (hi > n_out - 1) hi = n_out - 1;
}

template <class T>
__global__ void maxpool_fwd_kernel(Pool2dParams p, T* y, int64_t* indices, const T* x) {
  using A = acc_t<T>;
  const int64_t total = p.N * p.C * p.P * p.Q;
  ENGINE_GRID_STRIDE(o, total) {
    int64_t ow = o % p.Q, oh = (o / p.Q) % p.P, pl = o / (p.P * p.Q);
    const T* xp = x + pl * p.H * p.W;
    Window w = window(p, oh, ow);
    int64_t best = -1;
    A bv = A(0);
    for (int64_t h = w.h0; h < w.h1; ++h)
      for (int64_t c = w.w0; c < w.w1; ++c) {
        A v = to_acc(xp[h * p.W + c]);
        if (best < 0 || (!d_isnan(bv) && (v > bv || d_isnan(v)))) {
          best = h * p.W + c;
          bv = v;
        }
      }
    y[o] = best < 0 ? from_acc<T>(-d_inf<A>()) : xp[best];
    indices[o] = best < 0 ? 0 : best;
  }
}

template <class T>
__global__ void maxpool_bwd_kernel(Pool2dParams p, T* gx, const T* gy, const int64_t* indices) {
  using A = acc_t<T>;
  const int64_t total = p.N * p.C * p.H * p.W;
  ENGINE_GRID_STRIDE(i, total) {
    int64_t w = i % p.W, h = (i / p.W) % p.H, pl = i / (p.H * p.W);
    int64_t oh0, oh1, ow0, ow1;
    covering(h, p.ph, p.kh, p.sh, p.P, oh0, oh1);
    covering(w, p.pw, p.kw, p.sw, p.Q, ow0, ow1);
    const int64_t me = h * p.W + w, base = pl * p.P * p.Q;
    A s = A(0);
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        int64_t o = base + oh * p.Q + ow;
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
    int64_t ow = o % p.Q, oh = (o / p.Q) % p.P, pl = o / (p.P * p.Q);
    const T* xp = x + pl * p.H * p.W;
    Window w = window(p, oh, ow);
    A s = A(0);
    for (int64_t h = w.h0; h < w.h1; ++h)
      for (int64_t c = w.w0; c < w.w1; ++c) s += to_acc(xp[h * p.W + c]);
    int64_t d = avg_divisor(p, w);
    y[o] = from_acc<T>(d > 0 ? s / A(d) : A(0));
  }
}

template <class T>
__global__ void avgpool_bwd_kernel(Pool2dParams p, T* gx, const T* gy) {
  using A = acc_t<T>;
  const int64_t total = p.N * p.C * p.H * p.W;
  ENGINE_GRID_STRIDE(i, total) {
    int64_t w = i % p.W, h = (i / p.W) % p.H, pl = i / (p.H * p.W);
    int64_t oh0, oh1, ow0, ow1;
    covering(h, p.ph, p.kh, p.sh, p.P, oh0, oh1);
    covering(w, p.pw, p.kw, p.sw, p.Q, ow0, ow1);
    const T* gp = gy + pl * p.P * p.Q;
    A s = A(0);
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        int64_t d = avg_divisor(p, window(p, oh, ow));
        if (d > 0) s += to_acc(gp[oh * p.Q + ow]) / A(d);
      }
    gx[i] = from_acc<T>(s);
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

#define INSTANTIATE(T)                                                                                      \
  template void maxpool2d_fwd_cuda<T>(const Pool2dParams&, T*, int64_t*, const T*, cudaStream_t);           \
  template void maxpool2d_bwd_cuda<T>(const Pool2dParams&, T*, const T*, const int64_t*, cudaStream_t);     \
  template void avgpool2d_fwd_cuda<T>(const Pool2dParams&, T*, const T*, cudaStream_t);                     \
  template void avgpool2d_bwd_cuda<T>(const Pool2dParams&, T*, const T*, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
