#include "kernels/cpu/pool.h"

#include <algorithm>
#include <cmath>

namespace engine::kernels {

namespace {

// In-bounds rows [h0, h1) and columns [w0, w1) of the window of output (oh, ow).
struct Window {
  int64_t h0, h1, w0, w1;
};
inline Window window(const Pool2dParams& p, int64_t oh, int64_t ow) {
  int64_t hs = oh * p.sh - p.ph, ws = ow * p.sw - p.pw;
  return {std::max<int64_t>(hs, 0), std::min(hs + p.kh, p.H), std::max<int64_t>(ws, 0), std::min(ws + p.kw, p.W)};
}

inline int64_t avg_divisor(const Pool2dParams& p, const Window& w) {
  return p.count_include_pad ? p.kh * p.kw : (w.h1 - w.h0) * (w.w1 - w.w0);
}

// The (n, c) plane pl = n * C + c of a tensor with hw positions per plane: where it
// starts and the step between its positions (position i is at start + i * step).
struct Plane {
  int64_t start, step;
};
inline Plane plane(int64_t pl, int64_t C, int64_t hw, bool channels_last) {
  if (!channels_last) return {pl * hw, 1};
  return {(pl / C) * hw * C + pl % C, C};
}

}  // namespace

template <class T>
void maxpool2d_fwd_cpu(const Pool2dParams& p, T* y, int64_t* indices, const T* x) {
  const int64_t planes = p.N * p.C;
#pragma omp parallel for if (planes * p.P * p.Q * p.kh * p.kw > (1 << 16))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const Plane in = plane(pl, p.C, p.H * p.W, p.channels_last), out = plane(pl, p.C, p.P * p.Q, p.channels_last);
    for (int64_t oh = 0; oh < p.P; ++oh)
      for (int64_t ow = 0; ow < p.Q; ++ow) {
        Window w = window(p, oh, ow);
        int64_t best = -1;
        T bv = T(0);
        for (int64_t h = w.h0; h < w.h1; ++h)
          for (int64_t c = w.w0; c < w.w1; ++c) {
            T v = x[in.start + (h * p.W + c) * in.step];
            if (best < 0 || (!std::isnan(bv) && (v > bv || std::isnan(v)))) {
              best = h * p.W + c;
              bv = v;
            }
          }
        int64_t o = out.start + (oh * p.Q + ow) * out.step;
        y[o] = best < 0 ? T(-INFINITY) : bv;
        indices[o] = best < 0 ? 0 : best;
      }
  }
}

template <class T>
void maxpool2d_bwd_cpu(const Pool2dParams& p, T* gx, const T* gy, const int64_t* indices) {
  const int64_t planes = p.N * p.C, hw = p.H * p.W, pq = p.P * p.Q;
  // Planes are independent: indices never leave their plane, so threads never collide.
#pragma omp parallel for if (planes * (hw + pq) > (1 << 16))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const Plane in = plane(pl, p.C, hw, p.channels_last), out = plane(pl, p.C, pq, p.channels_last);
    for (int64_t i = 0; i < hw; ++i) gx[in.start + i * in.step] = T(0);
    for (int64_t o = 0; o < pq; ++o) {
      int64_t at = out.start + o * out.step;
      gx[in.start + indices[at] * in.step] += gy[at];
    }
  }
}

template <class T>
void avgpool2d_fwd_cpu(const Pool2dParams& p, T* y, const T* x) {
  const int64_t planes = p.N * p.C;
#pragma omp parallel for if (planes * p.P * p.Q * p.kh * p.kw > (1 << 16))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const Plane in = plane(pl, p.C, p.H * p.W, p.channels_last), out = plane(pl, p.C, p.P * p.Q, p.channels_last);
    for (int64_t oh = 0; oh < p.P; ++oh)
      for (int64_t ow = 0; ow < p.Q; ++ow) {
        Window w = window(p, oh, ow);
        double s = 0;
        for (int64_t h = w.h0; h < w.h1; ++h)
          for (int64_t c = w.w0; c < w.w1; ++c) s += double(x[in.start + (h * p.W + c) * in.step]);
        int64_t d = avg_divisor(p, w);
        y[out.start + (oh * p.Q + ow) * out.step] = d > 0 ? T(s / double(d)) : T(0);
      }
  }
}

template <class T>
void avgpool2d_bwd_cpu(const Pool2dParams& p, T* gx, const T* gy) {
  const int64_t planes = p.N * p.C, hw = p.H * p.W;
#pragma omp parallel for if (planes * p.P * p.Q * p.kh * p.kw > (1 << 16))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const Plane in = plane(pl, p.C, hw, p.channels_last), out = plane(pl, p.C, p.P * p.Q, p.channels_last);
    for (int64_t i = 0; i < hw; ++i) gx[in.start + i * in.step] = T(0);
    for (int64_t oh = 0; oh < p.P; ++oh)
      for (int64_t ow = 0; ow < p.Q; ++ow) {
        Window w = window(p, oh, ow);
        int64_t d = avg_divisor(p, w);
        if (d == 0) continue;
        T share = T(double(gy[out.start + (oh * p.Q + ow) * out.step]) / double(d));
        for (int64_t h = w.h0; h < w.h1; ++h)
          for (int64_t c = w.w0; c < w.w1; ++c) gx[in.start + (h * p.W + c) * in.step] += share;
      }
  }
}

template <class T>
void global_avgpool_fwd_cpu(T* y, const T* x, int64_t N, int64_t C, int64_t hw, bool channels_last) {
  const int64_t planes = N * C;
#pragma omp parallel for if (planes * hw > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const Plane in = plane(pl, C, hw, channels_last);
    double s = 0;
    for (int64_t i = 0; i < hw; ++i) s += double(x[in.start + i * in.step]);
    y[pl] = T(s / double(hw));
  }
}

#define ENGINE_POOL_INSTANTIATE(T)                                                       \
  template void maxpool2d_fwd_cpu<T>(const Pool2dParams&, T*, int64_t*, const T*);       \
  template void maxpool2d_bwd_cpu<T>(const Pool2dParams&, T*, const T*, const int64_t*); \
  template void avgpool2d_fwd_cpu<T>(const Pool2dParams&, T*, const T*);                 \
  template void avgpool2d_bwd_cpu<T>(const Pool2dParams&, T*, const T*);                 \
  template void global_avgpool_fwd_cpu<T>(T*, const T*, int64_t, int64_t, int64_t, bool);
ENGINE_POOL_INSTANTIATE(float)
ENGINE_POOL_INSTANTIATE(double)
#undef ENGINE_POOL_INSTANTIATE

}  // namespace engine::kernels
