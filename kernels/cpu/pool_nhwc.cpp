#include "kernels/cpu/pool_nhwc.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace engine::kernels {
namespace {

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

inline bool big(const Pool2dParams& p) { return p.N * p.C * p.P * p.Q * p.kh * p.kw > (1 << 16); }

}  // namespace

template <class T>
void maxpool2d_fwd_nhwc_cpu(const Pool2dParams& p, T* y, int64_t* indices, const T* x) {
  const int64_t rows = p.N * p.P, C = p.C;
#pragma omp parallel for if (big(p))
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = r / p.P, oh = r % p.P;
    const T* xn = x + n * p.H * p.W * C;
    for (int64_t ow = 0; ow < p.Q; ++ow) {
      Window w = window(p, oh, ow);
      const int64_t o = (r * p.Q + ow) * C;
      for (int64_t c = 0; c < C; ++c) {
        int64_t best = -1;
        T bv = T(0);
        for (int64_t h = w.h0; h < w.h1; ++h)
          for (int64_t wc = w.w0; wc < w.w1; ++wc) {
            T v = xn[(h * p.W + wc) * C + c];
            if (best < 0 || (!std::isnan(bv) && (v > bv || std::isnan(v)))) {
              best = h * p.W + wc;
              bv = v;
            }
          }
        y[o + c] = best < 0 ? T(-INFINITY) : bv;
        indices[o + c] = best < 0 ? 0 : best;
      }
    }
  }
}

template <class T>
void maxpool2d_bwd_nhwc_cpu(const Pool2dParams& p, T* gx, const T* gy, const int64_t* indices) {
  const int64_t C = p.C, hwc = p.H * p.W * C, pqc = p.P * p.Q * C;
  // Images are independent (indices never leave their plane), so threads never collide.
#pragma omp parallel for if (p.N * (hwc + pqc) > (1 << 16))
  for (int64_t n = 0; n < p.N; ++n) {
    T* g = gx + n * hwc;
    std::fill(g, g + hwc, T(0));
    const T* gp = gy + n * pqc;
    const int64_t* ip = indices + n * pqc;
    for (int64_t o = 0; o < pqc; ++o) g[ip[o] * C + o % C] += gp[o];
  }
}

template <class T>
void avgpool2d_fwd_nhwc_cpu(const Pool2dParams& p, T* y, const T* x) {
  const int64_t rows = p.N * p.P, C = p.C;
#pragma omp parallel for if (big(p))
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = r / p.P, oh = r % p.P;
    const T* xn = x + n * p.H * p.W * C;
    std::vector<double> s(static_cast<size_t>(C));
    for (int64_t ow = 0; ow < p.Q; ++ow) {
      Window w = window(p, oh, ow);
      std::fill(s.begin(), s.end(), 0.0);
      for (int64_t h = w.h0; h < w.h1; ++h)
        for (int64_t wc = w.w0; wc < w.w1; ++wc) {
          const T* xp = xn + (h * p.W + wc) * C;
          for (int64_t c = 0; c < C; ++c) s[size_t(c)] += double(xp[c]);
        }
      int64_t d = avg_divisor(p, w);
      T* yp = y + (r * p.Q + ow) * C;
      for (int64_t c = 0; c < C; ++c) yp[c] = d > 0 ? T(s[size_t(c)] / double(d)) : T(0);
    }
  }
}

template <class T>
void avgpool2d_bwd_nhwc_cpu(const Pool2dParams& p, T* gx, const T* gy) {
  const int64_t C = p.C, hwc = p.H * p.W * C;
#pragma omp parallel for if (big(p))
  for (int64_t n = 0; n < p.N; ++n) {
    T* g = gx + n * hwc;
    std::fill(g, g + hwc, T(0));
    for (int64_t oh = 0; oh < p.P; ++oh)
      for (int64_t ow = 0; ow < p.Q; ++ow) {
        Window w = window(p, oh, ow);
        int64_t d = avg_divisor(p, w);
        if (d == 0) continue;
        const T* gp = gy + ((n * p.P + oh) * p.Q + ow) * C;
        for (int64_t h = w.h0; h < w.h1; ++h)
          for (int64_t wc = w.w0; wc < w.w1; ++wc) {
            T* gq = g + (h * p.W + wc) * C;
            for (int64_t c = 0; c < C; ++c) gq[c] += T(double(gp[c]) / double(d));
          }
      }
  }
}

template <class T>
void global_avgpool_fwd_nhwc_cpu(T* y, const T* x, int64_t N, int64_t hw, int64_t C) {
#pragma omp parallel for if (N * hw * C > (1 << 15))
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> s(static_cast<size_t>(C), 0.0);
    const T* xn = x + n * hw * C;
    for (int64_t i = 0; i < hw; ++i)
      for (int64_t c = 0; c < C; ++c) s[size_t(c)] += double(xn[i * C + c]);
    for (int64_t c = 0; c < C; ++c) y[n * C + c] = T(s[size_t(c)] / double(hw));
  }
}

#define ENGINE_POOL_NHWC_INSTANTIATE(T)                                                     \
  template void maxpool2d_fwd_nhwc_cpu<T>(const Pool2dParams&, T*, int64_t*, const T*);      \
  template void maxpool2d_bwd_nhwc_cpu<T>(const Pool2dParams&, T*, const T*, const int64_t*); \
  template void avgpool2d_fwd_nhwc_cpu<T>(const Pool2dParams&, T*, const T*);                \
  template void avgpool2d_bwd_nhwc_cpu<T>(const Pool2dParams&, T*, const T*);                \
  template void global_avgpool_fwd_nhwc_cpu<T>(T*, const T*, int64_t, int64_t, int64_t);
ENGINE_POOL_NHWC_INSTANTIATE(float)
ENGINE_POOL_NHWC_INSTANTIATE(double)
#undef ENGINE_POOL_NHWC_INSTANTIATE

}  // namespace engine::kernels
