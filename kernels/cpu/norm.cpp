#include "kernels/cpu/norm.h"

#include <cmath>

namespace engine::kernels {

namespace {
// Element (n, c, i) of a contiguous NCHW tensor seen as [N, C, HW].
inline int64_t at(const BatchNormParams& p, int64_t n, int64_t c, int64_t i) { return (n * p.C + c) * p.HW + i; }
}  // namespace

template <class T>
void batchnorm2d_fwd_cpu(const BatchNormParams& p, T* y, T* save_mean, T* save_invstd, const T* x, const T* gamma,
                         const T* beta, T* running_mean, T* running_var) {
  const int64_t M = p.N * p.HW;
#pragma omp parallel for if (p.N * p.C * p.HW > (1 << 15))
  for (int64_t c = 0; c < p.C; ++c) {
    double mean, invstd;
    if (p.training) {
      // Two passes: the centred sum of squares avoids the cancellation of E[x^2] - E[x]^2.
      double s = 0;
      for (int64_t n = 0; n < p.N; ++n)
        for (int64_t i = 0; i < p.HW; ++i) s += double(x[at(p, n, c, i)]);
      mean = s / double(M);
      double ss = 0;
      for (int64_t n = 0; n < p.N; ++n)
        for (int64_t i = 0; i < p.HW; ++i) {
          double d = double(x[at(p, n, c, i)]) - mean;
          ss += d * d;
        }
      double var = ss / double(M);
      invstd = 1.0 / std::sqrt(var + p.eps);
      if (running_mean) running_mean[c] = T((1 - p.momentum) * double(running_mean[c]) + p.momentum * mean);
      if (running_var) {
        double unbiased = M > 1 ? ss / double(M - 1) : var;
        running_var[c] = T((1 - p.momentum) * double(running_var[c]) + p.momentum * unbiased);
      }
    } else {
      mean = double(running_mean[c]);
      invstd = 1.0 / std::sqrt(double(running_var[c]) + p.eps);
    }
    save_mean[c] = T(mean);
    save_invstd[c] = T(invstd);
    double scale = (gamma ? double(gamma[c]) : 1.0) * invstd;
    double shift = (beta ? double(beta[c]) : 0.0) - mean * scale;
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t i = 0; i < p.HW; ++i) {
        int64_t k = at(p, n, c, i);
        y[k] = T(double(x[k]) * scale + shift);
      }
  }
}

template <class T>
void batchnorm2d_bwd_cpu(const BatchNormParams& p, T* gx, T* ggamma, T* gbeta, const T* gy, const T* x, const T* gamma,
                         const T* save_mean, const T* save_invstd) {
  const int64_t M = p.N * p.HW;
#pragma omp parallel for if (p.N * p.C * p.HW > (1 << 15))
  for (int64_t c = 0; c < p.C; ++c) {
    double mean = double(save_mean[c]), invstd = double(save_invstd[c]);
    double sg = 0, sgx = 0;  // sum gy, sum gy * xhat
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t i = 0; i < p.HW; ++i) {
        int64_t k = at(p, n, c, i);
        double g = double(gy[k]);
        sg += g;
        sgx += g * (double(x[k]) - mean) * invstd;
      }
    if (gbeta) gbeta[c] = T(sg);
    if (ggamma) ggamma[c] = T(sgx);
    if (!gx) continue;
    double gi = (gamma ? double(gamma[c]) : 1.0) * invstd;
    if (p.training) {
      double mg = sg / double(M), mgx = sgx / double(M);
      for (int64_t n = 0; n < p.N; ++n)
        for (int64_t i = 0; i < p.HW; ++i) {
          int64_t k = at(p, n, c, i);
          double xhat = (double(x[k]) - mean) * invstd;
          gx[k] = T(gi * (double(gy[k]) - mg - xhat * mgx));
        }
    } else {
      for (int64_t n = 0; n < p.N; ++n)
        for (int64_t i = 0; i < p.HW; ++i) {
          int64_t k = at(p, n, c, i);
          gx[k] = T(double(gy[k]) * gi);
        }
    }
  }
}

template void batchnorm2d_fwd_cpu<float>(const BatchNormParams&, float*, float*, float*, const float*, const float*,
                                         const float*, float*, float*);
template void batchnorm2d_fwd_cpu<double>(const BatchNormParams&, double*, double*, double*, const double*,
                                          const double*, const double*, double*, double*);
template void batchnorm2d_bwd_cpu<float>(const BatchNormParams&, float*, float*, float*, const float*, const float*,
                                         const float*, const float*, const float*);
template void batchnorm2d_bwd_cpu<double>(const BatchNormParams&, double*, double*, double*, const double*,
                                          const double*, const double*, const double*, const double*);

}  // namespace engine::kernels
