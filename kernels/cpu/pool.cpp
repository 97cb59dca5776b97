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

}  // namespace

template <class T>
void maxpool2d_fwd_cpu(const Pool2dParams& p, T* y, int64_t* indices, const T* x) {
  const int64_t planes = p.N * p.C;
#pragma omp parallel for if (planes * p.P * p.Q * p.kh * p.kw > (1 << 16))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = x + pl * p.H * p.W;
    for (int64_t oh = 0; oh < p.P; ++oh)
      for (int64_t ow = 0; ow < p.Q; ++ow) {
        Window w = window(p, oh, ow);
        int64_t best = -1;
        T bv = T(0);
        for (int64_t h = w.h0; h < w.h1; ++h)
          for (int64_t c = w.w0; c < w.w1; ++c) {
            T v = xp[h * p.W + c];
            if (best < 0 || (!std::isnan(bv) && (v > bv || std::isnan(v)))) {
              best = h * p.W + c;
              bv = v;
            }
          }
        int64_t o = (pl * p.P + oh) * p.Q + ow;
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
    T* g = gx + pl * hw;
    std::fill(g, g + hw, T(0));
    const T* gp = gy + pl * pq;
    const int64_t* ip = indices + pl * pq;
    for (int64_t o = 0; o < pq; ++o) g[ip[o]] += gp[o];
  }
}

template <class T>
void avgpool2d_fwd_cpu(const Pool2dParams& p, T* y, const T* x) {
  const int64_t planes = p.N * p.C;
#pragma omp parallel for if (planes * p.P * p.Q * p.kh * p.kw > (1 << 16))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = x + pl * p.H * p.W;
    for (int64_t oh = 0; oh < p.P; ++oh)
      for (int64_t ow = 0; ow < p.Q; ++ow) {
        Window w = window(p, oh, ow);
        double s = 0;
        for (int64_t h = w.h0; h < w.h1; ++h)
          for (int64_t c = w.w0; c < w.w1; ++c) s += double(xp[h * p.W + c]);
        int64_t d = avg_divisor(p, w);
        y[(pl * p.P + oh) * p.Q + ow] = d > 0 ? T(s / double(d)) : T(0);
      }
  }
}

template <class T>
void avgpool2d_bwd_cpu(const Pool2dParams& p, T* gx, const T* gy) {
  const int64_t planes = p.N * p.C, hw = p.H * p.W;
#pragma omp parallel for if (planes * p.P * p.Q * p.kh * p.kw > (1 << 16))
  for (int64_t pl = 0; pl < planes; ++pl) {
    T* g = gx + pl * hw;
    std::fill(g, g + hw, T(0));
    const T* gp = gy + pl * p.P * p.Q;
    for (int64_t oh = 0; oh < p.P; ++oh)
      for (int64_t ow = 0; ow < p.Q; ++ow) {
        Window w = window(p, oh, ow);
        int64_t d = avg_divisor(p, w);
        if (d == 0) continue;
        T share = T(double(gp[oh * p.Q + ow]) / double(d));
        for (int64_t h = w.h0; h < w.h1; ++h)
          for (int64_t c = w.w0; c < w.w1; ++c) g[h * p.W + c] += share;
      }
  }
}

template <class T>
void global_avgpool_fwd_cpu(T* y, const T* x, int64_t planes, int64_t hw) {
#pragma omp parallel for if (planes * hw > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const T* xp = x + pl * hw;
    double s = 0;
    for (int64_t i = 0; i < hw; ++i) s += double(xp[i]);
    y[pl] = T(s / double(hw));
  }
}

#define ENGINE_POOL_INSTANTIATE(T)                                                  \
  template void maxpool2d_fwd_cpu<T>(const Pool2dParams&, T*, int64_t*, const T*);   \
  template void maxpool2d_bwd_cpu<T>(const Pool2dParams&, T*, const T*, const int64_t*); \
  template void avgpool2d_fwd_cpu<T>(const Pool2dParams&, T*, const T*);             \
  template void avgpool2d_bwd_cpu<T>(const Pool2dParams&, T*, const T*);             \
  template void global_avgpool_fwd_cpu<T>(T*, const T*, int64_t, int64_t);
ENGINE_POOL_INSTANTIATE(float)
ENGINE_POOL_INSTANTIATE(double)
#undef ENGINE_POOL_INSTANTIATE

}  // namespace engine::kernels
