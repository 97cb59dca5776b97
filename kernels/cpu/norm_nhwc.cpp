#include "kernels/cpu/norm_nhwc.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace engine::kernels {
namespace {

// Channels are handled in blocks: each thread owns a block and walks all rows, so the
// inner loop reads consecutive channels of one row.
constexpr int64_t kChannelBlock = 16;

inline bool big(const BatchNormParams& p) { return p.N * p.HW * p.C > (1 << 15); }

}  // namespace

template <class T>
void batchnorm2d_fwd_nhwc_cpu(const BatchNormParams& p, T* y, T* save_mean, T* save_invstd, const T* x,
                              const T* gamma, const T* beta, T* running_mean, T* running_var) {
  const int64_t M = p.N * p.HW, C = p.C;
  const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for if (big(p))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c0 = b * kChannelBlock, c1 = std::min(C, c0 + kChannelBlock), nc = c1 - c0;
    double mean[kChannelBlock], invstd[kChannelBlock], scale[kChannelBlock], shift[kChannelBlock];
    if (p.training) {
      double s[kChannelBlock] = {}, ss[kChannelBlock] = {};
      for (int64_t m = 0; m < M; ++m)
        for (int64_t j = 0; j < nc; ++j) s[j] += double(x[m * C + c0 + j]);
      for (int64_t j = 0; j < nc; ++j) mean[j] = s[j] / double(M);
      // Two passes: the centred sum of squares avoids the cancellation of E[x^2] - E[x]^2.
      for (int64_t m = 0; m < M; ++m)
        for (int64_t j = 0; j < nc; ++j) {
          double d = double(x[m * C + c0 + j]) - mean[j];
          ss[j] += d * d;
        }
      for (int64_t j = 0; j < nc; ++j) {
        const int64_t c = c0 + j;
        double var = ss[j] / double(M);
        invstd[j] = 1.0 / std::sqrt(var + p.eps);
        if (running_mean) running_mean[c] = T((1 - p.momentum) * double(running_mean[c]) + p.momentum * mean[j]);
        if (running_var) {
          double unbiased = M > 1 ? ss[j] / double(M - 1) : var;
          running_var[c] = T((1 - p.momentum) * double(running_var[c]) + p.momentum * unbiased);
        }
      }
    } else {
      for (int64_t j = 0; j < nc; ++j) {
        mean[j] = double(running_mean[c0 + j]);
        invstd[j] = 1.0 / std::sqrt(double(running_var[c0 + j]) + p.eps);
      }
    }
    for (int64_t j = 0; j < nc; ++j) {
      const int64_t c = c0 + j;
      save_mean[c] = T(mean[j]);
      save_invstd[c] = T(invstd[j]);
      scale[j] = (gamma ? double(gamma[c]) : 1.0) * invstd[j];
      shift[j] = (beta ? double(beta[c]) : 0.0) - mean[j] * scale[j];
    }
    for (int64_t m = 0; m < M; ++m)
      for (int64_t j = 0; j < nc; ++j) {
        const int64_t k = m * C + c0 + j;
        y[k] = T(double(x[k]) * scale[j] + shift[j]);
      }
  }
}

template <class T>
void batchnorm2d_bwd_nhwc_cpu(const BatchNormParams& p, T* gx, T* ggamma, T* gbeta, const T* gy, const T* x,
                              const T* gamma, const T* save_mean, const T* save_invstd) {
  const int64_t M = p.N * p.HW, C = p.C;
  const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for if (big(p))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t c0 = b * kChannelBlock, c1 = std::min(C, c0 + kChannelBlock), nc = c1 - c0;
    double mean[kChannelBlock], invstd[kChannelBlock], sg[kChannelBlock] = {}, sgx[kChannelBlock] = {};
    for (int64_t j = 0; j < nc; ++j) {
      mean[j] = double(save_mean[c0 + j]);
      invstd[j] = double(save_invstd[c0 + j]);
    }
    for (int64_t m = 0; m < M; ++m)
      for (int64_t j = 0; j < nc; ++j) {
        const int64_t k = m * C + c0 + j;
        double g = double(gy[k]);
        sg[j] += g;
        sgx[j] += g * (double(x[k]) - mean[j]) * invstd[j];
      }
    for (int64_t j = 0; j < nc; ++j) {
      if (gbeta) gbeta[c0 + j] = T(sg[j]);
      if (ggamma) ggamma[c0 + j] = T(sgx[j]);
    }
    if (!gx) continue;
    double gi[kChannelBlock], mg[kChannelBlock], mgx[kChannelBlock];
    for (int64_t j = 0; j < nc; ++j) {
      gi[j] = (gamma ? double(gamma[c0 + j]) : 1.0) * invstd[j];
      mg[j] = p.training ? sg[j] / double(M) : 0.0;
      mgx[j] = p.training ? sgx[j] / double(M) : 0.0;
    }
    // Eval: the statistics are constants, so mg = mgx = 0 leaves gx = gy * gamma * invstd.
    for (int64_t m = 0; m < M; ++m)
      for (int64_t j = 0; j < nc; ++j) {
        const int64_t k = m * C + c0 + j;
        double xhat = (double(x[k]) - mean[j]) * invstd[j];
        gx[k] = T(gi[j] * (double(gy[k]) - mg[j] - xhat * mgx[j]));
      }
  }
}

#define INSTANTIATE(T)                                                                                          \
  template void batchnorm2d_fwd_nhwc_cpu<T>(const BatchNormParams&, T*, T*, T*, const T*, const T*, const T*, T*, \
                                            T*);                                                               \
  template void batchnorm2d_bwd_nhwc_cpu<T>(const BatchNormParams&, T*, T*, T*, const T*, const T*, const T*,    \
                                            const T*, const T*);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace engine::kernels
