#include "kernels/cpu/softmax.h"

#include <cmath>
#include <limits>
#include <vector>

#include "base/check.h"

namespace engine::kernels {
namespace {

constexpr int64_t kParallelMin = 1 << 14;

// Serial pass before any parallel loop: an exception cannot leave an OpenMP region.
void check_labels(const int64_t* labels, int64_t N, int64_t C) {
  for (int64_t r = 0; r < N; ++r)
    ENGINE_CHECK(labels[r] >= 0 && labels[r] < C,
                 "op cross_entropy: label " << labels[r] << " of row " << r << " is out of range [0, " << C << ")");
}

}  // namespace

template <class T>
void softmax_fwd_cpu(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool log) {
  int64_t cols = outer * inner;
#pragma omp parallel for if (cols * n > kParallelMin)
  for (int64_t c = 0; c < cols; ++c) {
    int64_t base = (c / inner) * n * inner + c % inner;
    const T* xc = x + base;
    T* yc = y + base;
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < n; ++j) mx = std::fmax(mx, double(xc[j * inner]));
    // A row of -inf has no maximum to subtract: shift by 0 so the result is NaN, not an exception.
    if (std::isinf(mx) && mx < 0) mx = 0;
    double sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += std::exp(double(xc[j * inner]) - mx);
    if (log) {
      double lse = mx + std::log(sum);
      for (int64_t j = 0; j < n; ++j) yc[j * inner] = T(double(xc[j * inner]) - lse);
    } else {
      double inv = 1.0 / sum;
      for (int64_t j = 0; j < n; ++j) yc[j * inner] = T(std::exp(double(xc[j * inner]) - mx) * inv);
    }
  }
}

template <class T>
void softmax_bwd_cpu(T* gx, const T* gy, const T* y, int64_t outer, int64_t n, int64_t inner, bool log) {
  int64_t cols = outer * inner;
#pragma omp parallel for if (cols * n > kParallelMin)
  for (int64_t c = 0; c < cols; ++c) {
    int64_t base = (c / inner) * n * inner + c % inner;
    const T *g = gy + base, *yc = y + base;
    T* out = gx + base;
    double dot = 0;
    if (log) {
      for (int64_t j = 0; j < n; ++j) dot += double(g[j * inner]);
      for (int64_t j = 0; j < n; ++j) out[j * inner] = T(double(g[j * inner]) - std::exp(double(yc[j * inner])) * dot);
    } else {
      for (int64_t j = 0; j < n; ++j) dot += double(g[j * inner]) * double(yc[j * inner]);
      for (int64_t j = 0; j < n; ++j) out[j * inner] = T(double(yc[j * inner]) * (double(g[j * inner]) - dot));
    }
  }
}

template <class T>
void cross_entropy_fwd_cpu(T* loss, T* lse, const T* logits, const int64_t* labels, int64_t N, int64_t C, double s) {
  check_labels(labels, N, C);
  // Row losses are summed serially afterwards so the result does not depend on the thread count.
  std::vector<double> row_loss(static_cast<size_t>(N));
#pragma omp parallel for if (N * C > kParallelMin)
  for (int64_t r = 0; r < N; ++r) {
    const T* x = logits + r * C;
    double mx = -std::numeric_limits<double>::infinity(), sum = 0, xsum = 0;
    for (int64_t c = 0; c < C; ++c) mx = std::fmax(mx, double(x[c]));
    for (int64_t c = 0; c < C; ++c) {
      sum += std::exp(double(x[c]) - mx);
      xsum += double(x[c]);
    }
    double l = mx + std::log(sum);
    lse[r] = T(l);
    // Per-row loss in a shifted form (x - lse <= 0 term by term) so that huge logits cancel exactly.
    double picked = double(x[labels[r]]) - l;
    double mean_logp = xsum / double(C) - l;
    row_loss[size_t(r)] = -(1.0 - s) * picked - s * mean_logp;
  }
  double total = 0;
  for (double v : row_loss) total += v;
  *loss = T(total / double(N));
}

template <class T>
void cross_entropy_bwd_cpu(T* glogits, const T* gloss, const T* logits, const int64_t* labels, const T* lse, int64_t N,
                           int64_t C, double s) {
  check_labels(labels, N, C);
  double scale = double(*gloss) / double(N), uniform = s / double(C);
#pragma omp parallel for if (N * C > kParallelMin)
  for (int64_t r = 0; r < N; ++r) {
    const T* x = logits + r * C;
    T* g = glogits + r * C;
    double l = double(lse[r]);
    for (int64_t c = 0; c < C; ++c) {
      double target = uniform + (c == labels[r] ? 1.0 - s : 0.0);
      g[c] = T(scale * (std::exp(double(x[c]) - l) - target));
    }
  }
}

#define INSTANTIATE(T)                                                                                \
  template void softmax_fwd_cpu<T>(T*, const T*, int64_t, int64_t, int64_t, bool);                    \
  template void softmax_bwd_cpu<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, bool);          \
  template void cross_entropy_fwd_cpu<T>(T*, T*, const T*, const int64_t*, int64_t, int64_t, double); \
  template void cross_entropy_bwd_cpu<T>(T*, const T*, const T*, const int64_t*, const T*, int64_t, int64_t, double);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace engine::kernels
