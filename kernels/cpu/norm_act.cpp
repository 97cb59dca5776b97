#include "kernels/cpu/norm_act.h"

#include <cmath>
#include <type_traits>

namespace engine::kernels {

namespace {
// Element (n, c, i) of an NCHW or channels-last tensor, i < H*W.
inline int64_t at(const BatchNormActParams& p, int64_t n, int64_t c, int64_t i) {
  return p.channels_last ? (n * p.HW + i) * p.C + c : (n * p.C + c) * p.HW + i;
}
}  // namespace

template <class T>
void batchnorm2d_act_fwd_ref(const BatchNormActParams& p, T* y, T* save_mean, T* save_invstd, const T* x,
                             const T* residual, const T* gamma, const T* beta, T* running_mean, T* running_var) {
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
        double v = double(x[k]) * scale + shift;
        if (residual) v += double(residual[k]);
        if (p.relu && !(v > 0)) v = 0;
        y[k] = T(v);
      }
  }
}

template <class T>
void batchnorm2d_act_bwd_ref(const BatchNormActParams& p, T* gx, T* ggamma, T* gbeta, T* gresidual, const T* gy,
                             const T* y, const T* x, const T* gamma, const T* save_mean, const T* save_invstd) {
  const int64_t M = p.N * p.HW;
  // The masked gradient: zero where relu clamped (y == 0, its gradient at 0 included).
  auto masked = [&](int64_t k) { return p.relu && !(y[k] > T(0)) ? 0.0 : double(gy[k]); };
#pragma omp parallel for if (p.N * p.C * p.HW > (1 << 15))
  for (int64_t c = 0; c < p.C; ++c) {
    double mean = double(save_mean[c]), invstd = double(save_invstd[c]);
    double sg = 0, sgx = 0;
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t i = 0; i < p.HW; ++i) {
        int64_t k = at(p, n, c, i);
        double g = masked(k);
        if (gresidual) gresidual[k] = T(g);
        sg += g;
        sgx += g * (double(x[k]) - mean) * invstd;
      }
    if (gbeta) gbeta[c] = T(sg);
    if (ggamma) ggamma[c] = T(sgx);
    if (!gx) continue;
    double gi = (gamma ? double(gamma[c]) : 1.0) * invstd;
    double mg = p.training ? sg / double(M) : 0.0, mgx = p.training ? sgx / double(M) : 0.0;
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t i = 0; i < p.HW; ++i) {
        int64_t k = at(p, n, c, i);
        double xhat = (double(x[k]) - mean) * invstd;
        gx[k] = T(gi * (masked(k) - mg - xhat * mgx));
      }
  }
}

template <class T>
void batchnorm2d_act_fwd_cpu(const BatchNormActParams& p, T* y, T* save_mean, T* save_invstd, const T* x,
                             const T* residual, const T* gamma, const T* beta, T* running_mean, T* running_var) {
  if constexpr (std::is_same_v<T, float>) {
    if (p.N * p.HW > 0)
      return batchnorm2d_act_fwd_f32(p, y, save_mean, save_invstd, x, residual, gamma, beta, running_mean, running_var);
  }
  batchnorm2d_act_fwd_ref<T>(p, y, save_mean, save_invstd, x, residual, gamma, beta, running_mean, running_var);
}

template <class T>
void batchnorm2d_act_bwd_cpu(const BatchNormActParams& p, T* gx, T* ggamma, T* gbeta, T* gresidual, const T* gy,
                             const T* y, const T* x, const T* gamma, const T* save_mean, const T* save_invstd) {
  if constexpr (std::is_same_v<T, float>) {
    if (p.N * p.HW > 0)
      return batchnorm2d_act_bwd_f32(p, gx, ggamma, gbeta, gresidual, gy, y, x, gamma, save_mean, save_invstd);
  }
  batchnorm2d_act_bwd_ref<T>(p, gx, ggamma, gbeta, gresidual, gy, y, x, gamma, save_mean, save_invstd);
}

#define INSTANTIATE(T)                                                                                              \
  template void batchnorm2d_act_fwd_cpu<T>(const BatchNormActParams&, T*, T*, T*, const T*, const T*, const T*,     \
                                           const T*, T*, T*);                                                       \
  template void batchnorm2d_act_bwd_cpu<T>(const BatchNormActParams&, T*, T*, T*, T*, const T*, const T*, const T*, \
                                           const T*, const T*, const T*);                                           \
  template void batchnorm2d_act_fwd_ref<T>(const BatchNormActParams&, T*, T*, T*, const T*, const T*, const T*,     \
                                           const T*, T*, T*);                                                       \
  template void batchnorm2d_act_bwd_ref<T>(const BatchNormActParams&, T*, T*, T*, T*, const T*, const T*, const T*, \
                                           const T*, const T*, const T*);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace engine::kernels
