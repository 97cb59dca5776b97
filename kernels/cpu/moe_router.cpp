#include "kernels/cpu/moe_router.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/target_clones.h"

namespace engine::kernels {
namespace {

constexpr int64_t kParallelMin = 1 << 14;

// sum_i a_i b_i in f64, vectorised (the order of the sum is the vector lanes').
ENGINE_CLONES double dot_f64(const float* a, const float* b, int64_t n) {
  double acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += double(a[i]) * double(b[i]);
  return acc;
}

ENGINE_CLONES double dot_f64(const double* a, const double* b, int64_t n) {
  double acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

// acc_i += s x_i in f64.
ENGINE_CLONES void axpy_f64(double* acc, double s, const float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) acc[i] += s * double(x[i]);
}

ENGINE_CLONES void axpy_f64(double* acc, double s, const double* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) acc[i] += s * x[i];
}

// Gradient of the raw scores x w^T of one token (already divided by the temperature).
template <class T>
void token_score_grad(double* g, const T* probs, const int64_t* idx, const T* top, const T* g_logits, const T* g_probs,
                      const T* g_weights, const MoeRouterParams& p) {
  const int64_t E = p.E, k = p.k;
  std::vector<double> gp(static_cast<size_t>(E), 0.0);
  if (g_probs)
    for (int64_t e = 0; e < E; ++e) gp[size_t(e)] = double(g_probs[e]);
  if (g_weights) {
    // weights = v / sum(v) gives dv_j = (gw_j - sum_i gw_i weight_i) / sum(v).
    double sum = 0, dot = 0;
    if (p.renormalize) {
      for (int64_t j = 0; j < k; ++j) sum += double(top[j]);
      for (int64_t j = 0; j < k; ++j) dot += double(g_weights[j]) * double(top[j]) / sum;
    }
    for (int64_t j = 0; j < k; ++j) {
      double gv = p.renormalize ? (double(g_weights[j]) - dot) / sum : double(g_weights[j]);
      gp[size_t(idx[j])] += gv;
    }
  }
  double dot = 0;
  for (int64_t e = 0; e < E; ++e) dot += gp[size_t(e)] * double(probs[e]);
  const double inv_temp = 1.0 / p.temperature;
  for (int64_t e = 0; e < E; ++e) {
    double gz = double(probs[e]) * (gp[size_t(e)] - dot) + (g_logits ? double(g_logits[e]) : 0.0);
    g[e] = gz * inv_temp;
  }
}

}  // namespace

template <class T>
void moe_router_fwd_cpu(T* logits, T* probs, int64_t* top_idx, T* top_probs, T* weights, const T* x, const T* w,
                        const MoeRouterParams& p) {
  const int64_t Tn = p.T, C = p.C, E = p.E, k = p.k;
  const double inv_temp = 1.0 / p.temperature;
#pragma omp parallel for if (Tn * C * E > kParallelMin)
  for (int64_t t = 0; t < Tn; ++t) {
    const T* xt = x + t * C;
    T *zt = logits + t * E, *pt = probs + t * E;
    double mx = -INFINITY;
    for (int64_t e = 0; e < E; ++e) {
      zt[e] = T(dot_f64(xt, w + e * C, C) * inv_temp);
      mx = std::max(mx, double(zt[e]));
    }
    double sum = 0;
    for (int64_t e = 0; e < E; ++e) sum += std::exp(double(zt[e]) - mx);
    for (int64_t e = 0; e < E; ++e) pt[e] = T(std::exp(double(zt[e]) - mx) / sum);
    // k selection passes over E <= a few dozen experts; a strict > keeps the lower expert on ties.
    int64_t* it = top_idx + t * k;
    double top_sum = 0;
    for (int64_t j = 0; j < k; ++j) {
      int64_t best = -1;
      for (int64_t e = 0; e < E; ++e) {
        bool taken = false;
        for (int64_t i = 0; i < j; ++i) taken = taken || it[i] == e;
        if (!taken && (best < 0 || pt[e] > pt[best])) best = e;
      }
      it[j] = best;
      top_probs[t * k + j] = pt[best];
      top_sum += double(pt[best]);
    }
    for (int64_t j = 0; j < k; ++j)
      weights[t * k + j] = p.renormalize ? T(double(top_probs[t * k + j]) / top_sum) : top_probs[t * k + j];
  }
}

template <class T>
void moe_router_bwd_cpu(T* gx, T* gw, const T* x, const T* w, const T* probs, const int64_t* top_idx,
                        const T* top_probs, const T* g_logits, const T* g_probs, const T* g_weights,
                        const MoeRouterParams& p) {
  const int64_t Tn = p.T, C = p.C, E = p.E, k = p.k;
  std::vector<double> g(static_cast<size_t>(Tn * E));
  const bool big = Tn * C * E > kParallelMin;
  // Each token's row of gx summed over the experts in order, a row of C at a time.
#pragma omp parallel if (big)
  {
    std::vector<double> acc(static_cast<size_t>(C));
#pragma omp for
    for (int64_t t = 0; t < Tn; ++t) {
      token_score_grad(g.data() + t * E, probs + t * E, top_idx + t * k, top_probs + t * k,
                       g_logits ? g_logits + t * E : nullptr, g_probs ? g_probs + t * E : nullptr,
                       g_weights ? g_weights + t * k : nullptr, p);
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t e = 0; e < E; ++e) axpy_f64(acc.data(), g[size_t(t * E + e)], w + e * C, C);
      for (int64_t c = 0; c < C; ++c) gx[t * C + c] = T(acc[size_t(c)]);
    }
  }
  // One expert's row at a time, tokens in order: contiguous reads of x.
#pragma omp parallel for if (big)
  for (int64_t e = 0; e < E; ++e) {
    std::vector<double> acc(static_cast<size_t>(C), 0.0);
    for (int64_t t = 0; t < Tn; ++t) axpy_f64(acc.data(), g[size_t(t * E + e)], x + t * C, C);
    for (int64_t c = 0; c < C; ++c) gw[e * C + c] = T(acc[size_t(c)]);
  }
}

#define INSTANTIATE(T)                                                                                          \
  template void moe_router_fwd_cpu<T>(T*, T*, int64_t*, T*, T*, const T*, const T*, const MoeRouterParams&);    \
  template void moe_router_bwd_cpu<T>(T*, T*, const T*, const T*, const T*, const int64_t*, const T*, const T*, \
                                      const T*, const T*, const MoeRouterParams&);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace engine::kernels
