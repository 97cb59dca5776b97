#include "kernels/cpu/layernorm.h"

#include <algorithm>
#include <cmath>

namespace engine::kernels {
namespace {

constexpr int64_t kParallelMin = 1 << 14;
constexpr int64_t kColBlock = 64;

}  // namespace

template <class T>
void layer_norm_fwd_cpu(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t rows, int64_t D,
                        double eps) {
#pragma omp parallel for if (rows * D > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * D;
    T* yr = y + r * D;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < D; ++j) s += double(xr[j]);
    const double mu = s / double(D);
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < D; ++j) {
      const double c = double(xr[j]) - mu;
      ss += c * c;
    }
    const double rs = 1.0 / std::sqrt(ss / double(D) + eps);
    if (w && b) {
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) yr[j] = T((double(xr[j]) - mu) * rs * double(w[j]) + double(b[j]));
    } else {
      for (int64_t j = 0; j < D; ++j) {
        double v = (double(xr[j]) - mu) * rs;
        if (w) v *= double(w[j]);
        if (b) v += double(b[j]);
        yr[j] = T(v);
      }
    }
    mean[r] = T(mu);
    rstd[r] = T(rs);
  }
}

template <class T>
void layer_norm_bwd_cpu(T* gx, T* gw, T* gb, const T* gy, const T* x, const T* w, const T* mean, const T* rstd,
                        int64_t rows, int64_t D) {
#pragma omp parallel for if (rows * D > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T *xr = x + r * D, *gr = gy + r * D;
    const double mu = double(mean[r]), rs = double(rstd[r]);
    double sg = 0, sgx = 0;
    for (int64_t j = 0; j < D; ++j) {
      const double g = double(gr[j]) * (w ? double(w[j]) : 1.0);
      sg += g;
      sgx += g * (double(xr[j]) - mu) * rs;
    }
    sg /= double(D);
    sgx /= double(D);
    T* out = gx + r * D;
    for (int64_t j = 0; j < D; ++j) {
      const double g = double(gr[j]) * (w ? double(w[j]) : 1.0);
      out[j] = T(rs * (g - sg - (double(xr[j]) - mu) * rs * sgx));
    }
  }
  if (!gw && !gb) return;
  const int64_t blocks = (D + kColBlock - 1) / kColBlock;
#pragma omp parallel for if (rows * D > kParallelMin)
  for (int64_t cb = 0; cb < blocks; ++cb) {
    const int64_t c0 = cb * kColBlock, c1 = std::min(D, c0 + kColBlock);
    double sw[kColBlock] = {}, sb[kColBlock] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const T *xr = x + r * D, *gr = gy + r * D;
      const double mu = double(mean[r]), rs = double(rstd[r]);
      for (int64_t j = c0; j < c1; ++j) {
        sw[j - c0] += double(gr[j]) * (double(xr[j]) - mu) * rs;
        sb[j - c0] += double(gr[j]);
      }
    }
    for (int64_t j = c0; j < c1; ++j) {
      if (gw) gw[j] = T(sw[j - c0]);
      if (gb) gb[j] = T(sb[j - c0]);
    }
  }
}

#define INSTANTIATE(T)                                                                                     \
  template void layer_norm_fwd_cpu<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, double); \
  template void layer_norm_bwd_cpu<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int64_t, int64_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace engine::kernels
