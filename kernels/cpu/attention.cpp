#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace engine::kernels {
namespace {

constexpr int64_t kParallelMin = 1 << 14;
// A tile of queries against a tile of keys: the scores of one tile pair stay in cache.
constexpr int64_t kQTile = 32, kKTile = 64;

template <class T>
inline T dot(const T* a, const T* b, int64_t n) {
  T d = T(0);
#pragma omp simd reduction(+ : d)
  for (int64_t c = 0; c < n; ++c) d += a[c] * b[c];
  return d;
}

template <class T>
inline void axpy(T* y, T a, const T* x, int64_t n) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) y[c] += a * x[c];
}

template <class T>
constexpr T neg_inf() {
  return -std::numeric_limits<T>::infinity();
}

// One tile of queries: the online softmax over every key tile, then o and lse.
template <class T>
void attention_query_tile(T* o, T* lse, const T* q, const T* k, const T* v, const uint8_t* km, int64_t nq,
                          const AttentionParams& s) {
  const int64_t D = s.D, Lk = s.Lk;
  const T scale = T(s.scale);
  std::vector<T> acc(size_t(nq * D), T(0)), m(size_t(nq), neg_inf<T>()), l(size_t(nq), T(0)), sc(size_t(nq * kKTile)),
      kt(size_t(D * kKTile));
  for (int64_t k0 = 0; k0 < Lk; k0 += kKTile) {
    const int64_t nk = std::min(kKTile, Lk - k0);
    // The key tile transposed, so that a query's scores are axpys over the keys.
    for (int64_t j = 0; j < nk; ++j)
      for (int64_t c = 0; c < D; ++c) kt[size_t(c * kKTile + j)] = k[(k0 + j) * D + c];
    for (int64_t i = 0; i < nq; ++i) {
      T* si = sc.data() + i * kKTile;
      std::fill(si, si + nk, T(0));
      for (int64_t c = 0; c < D; ++c) axpy(si, scale * q[i * D + c], kt.data() + c * kKTile, nk);
      for (int64_t j = 0; j < nk; ++j)
        if (km && !km[k0 + j]) si[j] = neg_inf<T>();
    }
    for (int64_t i = 0; i < nq; ++i) {
      const T* si = sc.data() + i * kKTile;
      T mx = neg_inf<T>();
      for (int64_t j = 0; j < nk; ++j) mx = std::max(mx, si[j]);
      if (mx == neg_inf<T>()) continue;
      const T m_new = std::max(m[size_t(i)], mx), corr = std::exp(m[size_t(i)] - m_new);
      T* ai = acc.data() + i * D;
      l[size_t(i)] *= corr;
      for (int64_t c = 0; c < D; ++c) ai[c] *= corr;
      for (int64_t j = 0; j < nk; ++j) {
        const T p = std::exp(si[j] - m_new);
        l[size_t(i)] += p;
        axpy(ai, p, v + (k0 + j) * D, D);
      }
      m[size_t(i)] = m_new;
    }
  }
  for (int64_t i = 0; i < nq; ++i) {
    const T li = l[size_t(i)], inv = li > T(0) ? T(1) / li : T(0);
    for (int64_t c = 0; c < D; ++c) o[i * D + c] = acc[size_t(i * D + c)] * inv;
    lse[i] = li > T(0) ? m[size_t(i)] + std::log(li) : neg_inf<T>();
  }
}

// p of query i and key j from the saved lse; 0 for a fully masked row.
template <class T>
inline T recomputed_p(const T* qi, const T* kj, T lse_i, const AttentionParams& s) {
  if (lse_i == neg_inf<T>()) return T(0);
  return std::exp(T(s.scale) * dot(qi, kj, s.D) - lse_i);
}

// The whole backward of one (batch, head): every tile pair, so nothing is shared
// between threads.
template <class T>
void attention_bwd_head(T* gq, T* gk, T* gv, const T* go, const T* q, const T* k, const T* v, const T* o, const T* lse,
                        const uint8_t* km, const AttentionParams& s) {
  const int64_t D = s.D, Lq = s.Lq, Lk = s.Lk;
  const T scale = T(s.scale);
  std::fill(gq, gq + Lq * D, T(0));
  std::fill(gk, gk + Lk * D, T(0));
  std::fill(gv, gv + Lk * D, T(0));
  std::vector<T> delta(static_cast<size_t>(Lq), T(0));
  for (int64_t i = 0; i < Lq; ++i) delta[size_t(i)] = dot(go + i * D, o + i * D, D);
  for (int64_t k0 = 0; k0 < Lk; k0 += kKTile) {
    const int64_t k1 = std::min(Lk, k0 + kKTile);
    for (int64_t q0 = 0; q0 < Lq; q0 += kQTile) {
      const int64_t q1 = std::min(Lq, q0 + kQTile);
      for (int64_t j = k0; j < k1; ++j) {
        if (km && !km[j]) continue;
        const T *kj = k + j * D, *vj = v + j * D;
        for (int64_t i = q0; i < q1; ++i) {
          const T p = recomputed_p(q + i * D, kj, lse[i], s);
          if (p == T(0)) continue;
          axpy(gv + j * D, p, go + i * D, D);
          const T gs = p * (dot(go + i * D, vj, D) - delta[size_t(i)]) * scale;
          axpy(gk + j * D, gs, q + i * D, D);
          axpy(gq + i * D, gs, kj, D);
        }
      }
    }
  }
}

}  // namespace

template <class T>
void masked_softmax_fwd_cpu(T* y, const T* x, const uint8_t* mask, const StridedLayout& ml, int64_t rows, int64_t n) {
  const int64_t mstep = mask ? ml.strides[ml.ndim - 1] : 0;
#pragma omp parallel for if (rows * n > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    const uint8_t* mr = mask ? mask + strided_offset(ml, r * n) : nullptr;
    auto keep = [&](int64_t j) { return !mr || mr[j * mstep] != 0; };
    double mx = -std::numeric_limits<double>::infinity();
    bool any = false;
    for (int64_t j = 0; j < n; ++j)
      if (keep(j)) {
        mx = any ? std::fmax(mx, double(xr[j])) : double(xr[j]);
        any = true;
      }
    if (!any) {
      std::fill(yr, yr + n, T(0));
      continue;
    }
    if (std::isinf(mx) && mx < 0) mx = 0;
    double sum = 0;
    for (int64_t j = 0; j < n; ++j)
      if (keep(j)) sum += std::exp(double(xr[j]) - mx);
    const double inv = 1.0 / sum;
    for (int64_t j = 0; j < n; ++j) yr[j] = keep(j) ? T(std::exp(double(xr[j]) - mx) * inv) : T(0);
  }
}

template <class T>
void attention_fwd_cpu(T* o, T* lse, const T* q, const T* k, const T* v, const uint8_t* key_mask,
                       const AttentionParams& s) {
  const int64_t BH = s.B * s.H, qtiles = (s.Lq + kQTile - 1) / kQTile, D = s.D;
#pragma omp parallel for schedule(dynamic) if (BH * s.Lq * s.Lk * D > kParallelMin)
  for (int64_t t = 0; t < BH * qtiles; ++t) {
    const int64_t bh = t / qtiles, q0 = (t % qtiles) * kQTile, nq = std::min(kQTile, s.Lq - q0);
    const uint8_t* km = key_mask ? key_mask + (bh / s.H) * s.Lk : nullptr;
    attention_query_tile(o + (bh * s.Lq + q0) * D, lse + bh * s.Lq + q0, q + (bh * s.Lq + q0) * D, k + bh * s.Lk * D,
                         v + bh * s.Lk * D, km, nq, s);
  }
}

template <class T>
void attention_bwd_cpu(T* gq, T* gk, T* gv, const T* go, const T* q, const T* k, const T* v, const T* o, const T* lse,
                       const uint8_t* key_mask, const AttentionParams& s) {
  const int64_t BH = s.B * s.H, D = s.D, qs = s.Lq * D, ks = s.Lk * D;
#pragma omp parallel for schedule(dynamic) if (BH * s.Lq * s.Lk * D > kParallelMin)
  for (int64_t bh = 0; bh < BH; ++bh) {
    const uint8_t* km = key_mask ? key_mask + (bh / s.H) * s.Lk : nullptr;
    attention_bwd_head(gq + bh * qs, gk + bh * ks, gv + bh * ks, go + bh * qs, q + bh * qs, k + bh * ks, v + bh * ks,
                       o + bh * qs, lse + bh * s.Lq, km, s);
  }
}

#define INSTANTIATE(T)                                                                                              \
  template void masked_softmax_fwd_cpu<T>(T*, const T*, const uint8_t*, const StridedLayout&, int64_t, int64_t);    \
  template void attention_fwd_cpu<T>(T*, T*, const T*, const T*, const T*, const uint8_t*, const AttentionParams&); \
  template void attention_bwd_cpu<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, const T*,        \
                                     const uint8_t*, const AttentionParams&);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace engine::kernels
