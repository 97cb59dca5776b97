// The f32 batch norm with fused epilogue, the fast path of batchnorm2d_act_{fwd,bwd}_cpu,
// and its bf16-activation form (the same leaves on blocks staged in f32, see below):
// vectorised and threaded in both layouts, each direction two passes over memory.
// NCHW works on contiguous (n, c) planes; channels-last on rows of C channels, where
// every thread keeps its own per-channel sums (combined in a fixed order), so that memory
// is read in order in both layouts. Sums run in double (f32 differences widened before
// they are multiplied); the statistics use sums shifted by one element of the channel,
// so E[(x-k)^2] - E[x-k]^2 loses little when |mean| >> std.
// The leaf loops are compiled for AVX-512, AVX2+FMA and baseline x86-64 and picked at
// run time (target_clones), so nothing here assumes the machine's instruction set.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/convert.h"
#include "kernels/cpu/norm_act.h"
#include "kernels/cpu/target_clones.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace engine::kernels {
namespace {

constexpr int64_t kRowBlock = 64;  // channels-last rows per task of the elementwise passes

int num_threads(int64_t work) {
#ifdef _OPENMP
  return work > (1 << 15) ? omp_get_max_threads() : 1;
#else
  (void)work;
  return 1;
#endif
}

// ---- leaves (vectorised) ----

// gy where y > 0, else +0 (also for a NaN or infinite gy), as a bit mask: a select
// inside a double reduction keeps GCC from vectorising the loop.
inline float masked(float gy, float y) {
  uint32_t u;
  std::memcpy(&u, &gy, 4);
  u &= 0u - uint32_t(y > 0);
  float g;
  std::memcpy(&g, &u, 4);
  return g;
}

// s1 += sum (x - k), s2 += sum (x - k)^2 over n contiguous elements.
ENGINE_CLONES void plane_sums(const float* __restrict x, int64_t n, float k, double* s1, double* s2) {
  double a1 = 0, a2 = 0;
#pragma omp simd reduction(+ : a1, a2)
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(x[i] - k);
    a1 += d;
    a2 += d * d;
  }
  *s1 += a1;
  *s2 += a2;
}

// a1[c] += sum_r (x[r, c] - k[c]), a2[c] += sum_r (x[r, c] - k[c])^2 over rows x [rows, C].
ENGINE_CLONES void rows_sums(const float* __restrict x, int64_t rows, int64_t C, const float* __restrict k,
                             double* __restrict a1, double* __restrict a2) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const double d = double(xr[c] - k[c]);
      a1[c] += d;
      a2[c] += d * d;
    }
  }
}

// y = act((x - mean) * scale + shift [+ res]) over n contiguous elements of one channel.
ENGINE_CLONES void plane_apply(float* __restrict y, const float* __restrict x, const float* __restrict res, int64_t n,
                               float mean, float scale, float shift, bool relu) {
  if (res) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      float v = (x[i] - mean) * scale + shift + res[i];
      y[i] = relu ? (v > 0 ? v : 0.f) : v;
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      float v = (x[i] - mean) * scale + shift;
      y[i] = relu ? (v > 0 ? v : 0.f) : v;
    }
  }
}

ENGINE_CLONES void rows_apply(float* __restrict y, const float* __restrict x, const float* __restrict res, int64_t rows,
                              int64_t C, const float* __restrict mean, const float* __restrict scale,
                              const float* __restrict shift, bool relu) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      float v = (x[o + c] - mean[c]) * scale[c] + shift[c] + (res ? res[o + c] : 0.f);
      y[o + c] = relu ? (v > 0 ? v : 0.f) : v;
    }
  }
}

// The masked gradient g = relu ? gy * (y > 0) : gy, written to gres when given;
// sg += sum g, sgx += sum g * (x - mean) over n contiguous elements.
ENGINE_CLONES void plane_grad_sums(const float* __restrict gy, const float* __restrict y, const float* __restrict x,
                                   float* __restrict gres, int64_t n, float mean, double* sg, double* sgx) {
  double a1 = 0, a2 = 0;
  if (y) {
#pragma omp simd reduction(+ : a1, a2)
    for (int64_t i = 0; i < n; ++i) {
      const double g = double(masked(gy[i], y[i]));
      a1 += g;
      a2 += g * double(x[i] - mean);
    }
    if (gres)
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) gres[i] = masked(gy[i], y[i]);
  } else {
#pragma omp simd reduction(+ : a1, a2)
    for (int64_t i = 0; i < n; ++i) {
      a1 += double(gy[i]);
      a2 += double(gy[i]) * double(x[i] - mean);
    }
    if (gres) std::copy(gy, gy + n, gres);
  }
  *sg += a1;
  *sgx += a2;
}

ENGINE_CLONES void rows_grad_sums(const float* __restrict gy, const float* __restrict y, const float* __restrict x,
                                  float* __restrict gres, int64_t rows, int64_t C, const float* __restrict mean,
                                  double* __restrict a1, double* __restrict a2) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const float g = y ? masked(gy[o + c], y[o + c]) : gy[o + c];
      if (gres) gres[o + c] = g;
      a1[c] += double(g);
      a2[c] += double(g) * double(x[o + c] - mean[c]);
    }
  }
}

// gx = A * g + B * (x - mean) + D, g the masked gradient (see plane_grad_sums).
ENGINE_CLONES void plane_grad_apply(float* __restrict gx, const float* __restrict gy, const float* __restrict y,
                                    const float* __restrict x, int64_t n, float mean, float A, float B, float D) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = y ? masked(gy[i], y[i]) : gy[i];
    gx[i] = A * g + B * (x[i] - mean) + D;
  }
}

ENGINE_CLONES void rows_grad_apply(float* __restrict gx, const float* __restrict gy, const float* __restrict y,
                                   const float* __restrict x, int64_t rows, int64_t C, const float* __restrict mean,
                                   const float* __restrict A, const float* __restrict B, const float* __restrict D) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const float g = y ? masked(gy[o + c], y[o + c]) : gy[o + c];
      gx[o + c] = A[c] * g + B[c] * (x[o + c] - mean[c]) + D[c];
    }
  }
}

// ---- per-channel sums over the whole tensor ----

// Per-channel double sums of two quantities, computed by `nchw(c, n, &s1, &s2)` on the
// plane (n, c) or by `rows(r0, rows, a1, a2)` on each thread's share of channels-last rows.
template <class Plane, class Rows>
void channel_sums(const BatchNormActParams& p, std::vector<double>& s1, std::vector<double>& s2, Plane nchw,
                  Rows rows) {
  const int64_t C = p.C, M = p.N * p.HW;
  s1.assign(C, 0.0);
  s2.assign(C, 0.0);
  const int nt = num_threads(p.N * p.C * p.HW);
  if (!p.channels_last) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t n = 0; n < p.N; ++n) nchw(c, n, &s1[c], &s2[c]);
    return;
  }
  std::vector<double> part(size_t(nt) * 2 * C, 0.0);
#pragma omp parallel num_threads(nt)
  {
#ifdef _OPENMP
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
#else
    const int t = 0, T = 1;
#endif
    const int64_t begin = M * t / T, end = M * (t + 1) / T;
    double* d1 = part.data() + size_t(t) * 2 * C;
    if (end > begin) rows(begin, end - begin, d1, d1 + C);
  }
  for (int t = 0; t < nt; ++t)
    for (int64_t c = 0; c < C; ++c) {
      s1[c] += part[size_t(t) * 2 * C + c];
      s2[c] += part[size_t(t) * 2 * C + C + c];
    }
}

// Runs `plane(n, c)` over every (n, c) plane (NCHW) or `rows(r0, rows)` over blocks of
// channels-last rows, threaded.
template <class Plane, class Rows>
void for_each_block(const BatchNormActParams& p, Plane plane, Rows rows) {
  const int nt = num_threads(p.N * p.C * p.HW);
  if (!p.channels_last) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t nc = 0; nc < p.N * p.C; ++nc) plane(nc / p.C, nc % p.C);
    return;
  }
  const int64_t M = p.N * p.HW;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < M; r += kRowBlock) rows(r, std::min(kRowBlock, M - r));
}

// ---- bf16 activations: f32 blocks staged in cache ----
// The bf16 entry points run the f32 leaves on blocks of at most kStageElems elements,
// widened into per-thread f32 buffers; what a leaf writes is rounded back to bf16 (to
// nearest even) block by block. Memory sees bf16 only, and each block's arithmetic is
// that of the f32 path on the widened tensor (the channels-last sums run over the rows
// in the same order; the NCHW plane sums add per-block partial sums).
constexpr int64_t kStageElems = 4096;

float* stage(int slot, int64_t n) {
  thread_local std::vector<float> buf[4];
  std::vector<float>& b = buf[slot];
  if (b.size() < size_t(n)) b.resize(size_t(n));
  return b.data();
}
inline float widen_one(float v) { return v; }
inline float widen_one(uint16_t v) {
  const uint32_t u = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// The f32 view of n elements at p (null stays null), in stage `slot` for bf16.
inline const float* load(const float* p, int64_t, int) { return p; }
inline const float* load(const uint16_t* p, int64_t n, int slot) {
  if (!p) return nullptr;
  float* b = stage(slot, n);
  bf16_to_f32_serial(b, p, n);
  return b;
}
// Where a leaf writes n elements meant for p, and the rounding back of what it wrote.
inline float* target(float* p, int64_t, int) { return p; }
inline float* target(uint16_t* p, int64_t n, int slot) { return p ? stage(slot, n) : nullptr; }
inline void store(float*, const float*, int64_t) {}
inline void store(uint16_t* p, const float* b, int64_t n) {
  if (p) f32_to_bf16_serial(p, b, n);
}

// f(i, m) over [0, n) in steps of whole units of `unit` elements: one step for f32,
// steps of at most kStageElems elements (at least one unit) for bf16.
template <class S, class F>
void for_chunks(int64_t n, int64_t unit, F f) {
  if constexpr (std::is_same_v<S, float>) {
    f(int64_t(0), n);
  } else {
    const int64_t step = std::max<int64_t>(1, kStageElems / std::max<int64_t>(unit, 1));
    for (int64_t i = 0; i < n; i += step) f(i, std::min(step, n - i));
  }
}

template <class S>
const S* offset(const S* p, int64_t o) {
  return p ? p + o : nullptr;
}
template <class S>
S* offset(S* p, int64_t o) {
  return p ? p + o : nullptr;
}

// Per-channel mean and 1/std of the batch (training; running statistics updated) or of
// the running statistics (evaluation).
template <class S>
void forward_statistics(const BatchNormActParams& p, const S* x, float* save_mean, float* save_invstd,
                        float* running_mean, float* running_var) {
  const int64_t C = p.C, HW = p.HW, M = p.N * p.HW;
  if (!p.training) {
    for (int64_t c = 0; c < C; ++c) {
      save_mean[c] = running_mean[c];
      save_invstd[c] = float(1.0 / std::sqrt(double(running_var[c]) + p.eps));
    }
    return;
  }
  // k: the channel's first element, the shift of the sums.
  std::vector<float> k(C);
  for (int64_t c = 0; c < C && M > 0; ++c) k[c] = widen_one(p.channels_last ? x[c] : x[c * HW]);
  std::vector<double> s1, s2;
  channel_sums(
      p, s1, s2,
      [&](int64_t c, int64_t n, double* a, double* b) {
        const S* xp = x + (n * C + c) * HW;
        for_chunks<S>(HW, 1, [&](int64_t i, int64_t m) { plane_sums(load(xp + i, m, 0), m, k[c], a, b); });
      },
      [&](int64_t r, int64_t rows, double* a1, double* a2) {
        for_chunks<S>(
            rows, C, [&](int64_t i, int64_t m) { rows_sums(load(x + (r + i) * C, m * C, 0), m, C, k.data(), a1, a2); });
      });
  for (int64_t c = 0; c < C; ++c) {
    const double m1 = s1[c] / double(M);
    const double var = std::max(0.0, s2[c] / double(M) - m1 * m1);
    const double mean = double(k[c]) + m1, invstd = 1.0 / std::sqrt(var + p.eps);
    if (running_mean) running_mean[c] = float((1 - p.momentum) * double(running_mean[c]) + p.momentum * mean);
    if (running_var) {
      const double unbiased = M > 1 ? var * double(M) / double(M - 1) : var;
      running_var[c] = float((1 - p.momentum) * double(running_var[c]) + p.momentum * unbiased);
    }
    save_mean[c] = float(mean);
    save_invstd[c] = float(invstd);
  }
}

template <class S>
void bn_act_fwd(const BatchNormActParams& p, S* y, float* save_mean, float* save_invstd, const S* x, const S* residual,
                const float* gamma, const float* beta, float* running_mean, float* running_var) {
  const int64_t C = p.C, HW = p.HW;
  forward_statistics(p, x, save_mean, save_invstd, running_mean, running_var);
  std::vector<float> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    scale[c] = float((gamma ? double(gamma[c]) : 1.0) * double(save_invstd[c]));
    shift[c] = beta ? beta[c] : 0.f;
  }
  // y = act((x - mean) * scale + shift [+ residual]) on m elements (or rows) at offset o.
  auto apply = [&](int64_t o, int64_t m, int64_t len, auto leaf) {
    float* yt = target(y + o, len, 0);
    leaf(yt, load(x + o, len, 1), load(offset(residual, o), len, 2), m);
    store(y + o, yt, len);
  };
  for_each_block(
      p,
      [&](int64_t n, int64_t c) {
        const int64_t o = (n * C + c) * HW;
        for_chunks<S>(HW, 1, [&](int64_t i, int64_t m) {
          apply(o + i, m, m, [&](float* yt, const float* xt, const float* rt, int64_t len) {
            plane_apply(yt, xt, rt, len, save_mean[c], scale[c], shift[c], p.relu);
          });
        });
      },
      [&](int64_t r, int64_t rows) {
        for_chunks<S>(rows, C, [&](int64_t i, int64_t m) {
          apply((r + i) * C, m, m * C, [&](float* yt, const float* xt, const float* rt, int64_t mr) {
            rows_apply(yt, xt, rt, mr, C, save_mean, scale.data(), shift.data(), p.relu);
          });
        });
      });
}

// The per-channel sums of the backward: sg = sum g, sgx = sum g * (x - mean), with g the
// masked gradient (also written to gresidual when given).
template <class S>
void backward_sums(const BatchNormActParams& p, std::vector<double>& sg, std::vector<double>& sgx, S* gresidual,
                   const S* gy, const S* ym, const S* x, const float* save_mean) {
  const int64_t C = p.C, HW = p.HW;
  auto sums = [&](int64_t o, int64_t len, auto leaf) {
    float* gt = target(offset(gresidual, o), len, 3);
    leaf(load(gy + o, len, 0), load(offset(ym, o), len, 1), load(x + o, len, 2), gt);
    store(offset(gresidual, o), gt, len);
  };
  channel_sums(
      p, sg, sgx,
      [&](int64_t c, int64_t n, double* a, double* b) {
        const int64_t o = (n * C + c) * HW;
        for_chunks<S>(HW, 1, [&](int64_t i, int64_t m) {
          sums(o + i, m, [&](const float* g, const float* yt, const float* xt, float* gt) {
            plane_grad_sums(g, yt, xt, gt, m, save_mean[c], a, b);
          });
        });
      },
      [&](int64_t r, int64_t rows, double* a1, double* a2) {
        for_chunks<S>(rows, C, [&](int64_t i, int64_t m) {
          sums((r + i) * C, m * C, [&](const float* g, const float* yt, const float* xt, float* gt) {
            rows_grad_sums(g, yt, xt, gt, m, C, save_mean, a1, a2);
          });
        });
      });
}

template <class S>
void bn_act_bwd(const BatchNormActParams& p, S* gx, float* ggamma, float* gbeta, S* gresidual, const S* gy, const S* y,
                const S* x, const float* gamma, const float* save_mean, const float* save_invstd) {
  const int64_t C = p.C, HW = p.HW, M = p.N * p.HW;
  const S* ym = p.relu ? y : nullptr;  // the mask's source
  std::vector<double> sg, sgx;
  backward_sums(p, sg, sgx, gresidual, gy, ym, x, save_mean);
  std::vector<float> A(C), B(C), D(C);
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = double(save_invstd[c]), sgxhat = sgx[c] * invstd;
    if (gbeta) gbeta[c] = float(sg[c]);
    if (ggamma) ggamma[c] = float(sgxhat);
    const double gi = (gamma ? double(gamma[c]) : 1.0) * invstd;
    const double mg = p.training && M > 0 ? sg[c] / double(M) : 0.0;
    const double mgx = p.training && M > 0 ? sgxhat / double(M) : 0.0;
    // gx = gi (g - mg - xhat mgx), xhat = (x - mean) invstd
    A[c] = float(gi);
    B[c] = float(-gi * invstd * mgx);
    D[c] = float(-gi * mg);
  }
  if (!gx) return;
  auto apply = [&](int64_t o, int64_t len, auto leaf) {
    float* gt = target(gx + o, len, 3);
    leaf(gt, load(gy + o, len, 0), load(offset(ym, o), len, 1), load(x + o, len, 2));
    store(gx + o, gt, len);
  };
  for_each_block(
      p,
      [&](int64_t n, int64_t c) {
        const int64_t o = (n * C + c) * HW;
        for_chunks<S>(HW, 1, [&](int64_t i, int64_t m) {
          apply(o + i, m, [&](float* gt, const float* g, const float* yt, const float* xt) {
            plane_grad_apply(gt, g, yt, xt, m, save_mean[c], A[c], B[c], D[c]);
          });
        });
      },
      [&](int64_t r, int64_t rows) {
        for_chunks<S>(rows, C, [&](int64_t i, int64_t m) {
          apply((r + i) * C, m * C, [&](float* gt, const float* g, const float* yt, const float* xt) {
            rows_grad_apply(gt, g, yt, xt, m, C, save_mean, A.data(), B.data(), D.data());
          });
        });
      });
}

}  // namespace

void batchnorm2d_act_fwd_f32(const BatchNormActParams& p, float* y, float* save_mean, float* save_invstd,
                             const float* x, const float* residual, const float* gamma, const float* beta,
                             float* running_mean, float* running_var) {
  bn_act_fwd(p, y, save_mean, save_invstd, x, residual, gamma, beta, running_mean, running_var);
}

void batchnorm2d_act_bwd_f32(const BatchNormActParams& p, float* gx, float* ggamma, float* gbeta, float* gresidual,
                             const float* gy, const float* y, const float* x, const float* gamma,
                             const float* save_mean, const float* save_invstd) {
  bn_act_bwd(p, gx, ggamma, gbeta, gresidual, gy, y, x, gamma, save_mean, save_invstd);
}

void batchnorm2d_act_fwd_bf16(const BatchNormActParams& p, uint16_t* y, float* save_mean, float* save_invstd,
                              const uint16_t* x, const uint16_t* residual, const float* gamma, const float* beta,
                              float* running_mean, float* running_var) {
  bn_act_fwd(p, y, save_mean, save_invstd, x, residual, gamma, beta, running_mean, running_var);
}

void batchnorm2d_act_bwd_bf16(const BatchNormActParams& p, uint16_t* gx, float* ggamma, float* gbeta,
                              uint16_t* gresidual, const uint16_t* gy, const uint16_t* y, const uint16_t* x,
                              const float* gamma, const float* save_mean, const float* save_invstd) {
  bn_act_bwd(p, gx, ggamma, gbeta, gresidual, gy, y, x, gamma, save_mean, save_invstd);
}

}  // namespace engine::kernels
