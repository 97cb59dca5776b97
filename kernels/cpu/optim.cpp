#include "kernels/cpu/optim.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace engine::kernels {

namespace {

// One element of each update, shared by the per-tensor and the multi-tensor kernels.
template <class T>
inline void sgd_elem(T* p, const T* g, T* buf, int64_t i, double lr, double momentum, double dampening,
                     double weight_decay, bool nesterov, bool first_step) {
  double d = double(g[i]) + weight_decay * double(p[i]);
  if (momentum != 0) {
    double b = first_step ? d : momentum * double(buf[i]) + (1 - dampening) * d;
    buf[i] = T(b);
    d = nesterov ? d + momentum * b : b;
  }
  p[i] = T(double(p[i]) - lr * d);
}

template <class T>
inline void adamw_elem(T* p, const T* g, T* m, T* v, int64_t i, double lr, double beta1, double beta2, double eps,
                       double weight_decay, double bc1, double bc2) {
  double gi = double(g[i]);
  double mi = beta1 * double(m[i]) + (1 - beta1) * gi;
  double vi = beta2 * double(v[i]) + (1 - beta2) * gi * gi;
  m[i] = T(mi);
  v[i] = T(vi);
  double pi = double(p[i]) * (1 - lr * weight_decay);
  p[i] = T(pi - lr * (mi / bc1) / (std::sqrt(vi / bc2) + eps));
}

constexpr int64_t kChunk = 1 << 15;

std::vector<MultiTensorChunk> chunks_of(const int64_t* ns, int64_t count, int64_t* total) {
  std::vector<MultiTensorChunk> out;
  *total = 0;
  for (int64_t t = 0; t < count; ++t) {
    *total += ns[t];
    for (int64_t s = 0; s < ns[t]; s += kChunk) out.push_back(MultiTensorChunk{t, s});
  }
  return out;
}

std::vector<int64_t> sizes_of(const MultiTensorRecord* r, int64_t count) {
  std::vector<int64_t> ns(static_cast<size_t>(count));
  for (int64_t t = 0; t < count; ++t) ns[static_cast<size_t>(t)] = r[t].n;
  return ns;
}

}  // namespace

template <class T>
void sgd_step_cpu(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening,
                  double weight_decay, bool nesterov, bool first_step) {
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) sgd_elem(p, g, buf, i, lr, momentum, dampening, weight_decay, nesterov, first_step);
}

template <class T>
void adamw_step_cpu(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps,
                    double weight_decay, int64_t step) {
  double bc1 = 1 - std::pow(beta1, double(step)), bc2 = 1 - std::pow(beta2, double(step));
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) adamw_elem(p, g, m, v, i, lr, beta1, beta2, eps, weight_decay, bc1, bc2);
}

template <class T>
void sgd_step_multi_cpu(const MultiTensorRecord* records, int64_t count, const SgdHyper& h) {
  int64_t total = 0;
  std::vector<int64_t> ns = sizes_of(records, count);
  std::vector<MultiTensorChunk> chunks = chunks_of(ns.data(), count, &total);
  const int64_t nc = int64_t(chunks.size());
#pragma omp parallel for if (total > (1 << 16))
  for (int64_t c = 0; c < nc; ++c) {
    const MultiTensorRecord& r = records[chunks[size_t(c)].tensor];
    T* p = static_cast<T*>(r.p);
    const T* g = static_cast<const T*>(r.g);
    T* buf = static_cast<T*>(r.s1);
    int64_t end = std::min(r.n, chunks[size_t(c)].start + kChunk);
    for (int64_t i = chunks[size_t(c)].start; i < end; ++i)
      sgd_elem(p, g, buf, i, h.lr, h.momentum, h.dampening, r.weight_decay, h.nesterov, r.first_step != 0);
  }
}

template <class T>
void adamw_step_multi_cpu(const MultiTensorRecord* records, int64_t count, const AdamWHyper& h) {
  double bc1 = 1 - std::pow(h.beta1, double(h.step)), bc2 = 1 - std::pow(h.beta2, double(h.step));
  int64_t total = 0;
  std::vector<int64_t> ns = sizes_of(records, count);
  std::vector<MultiTensorChunk> chunks = chunks_of(ns.data(), count, &total);
  const int64_t nc = int64_t(chunks.size());
#pragma omp parallel for if (total > (1 << 16))
  for (int64_t c = 0; c < nc; ++c) {
    const MultiTensorRecord& r = records[chunks[size_t(c)].tensor];
    T* p = static_cast<T*>(r.p);
    const T* g = static_cast<const T*>(r.g);
    T *m = static_cast<T*>(r.s1), *v = static_cast<T*>(r.s2);
    int64_t end = std::min(r.n, chunks[size_t(c)].start + kChunk);
    for (int64_t i = chunks[size_t(c)].start; i < end; ++i)
      adamw_elem(p, g, m, v, i, h.lr, h.beta1, h.beta2, h.eps, r.weight_decay, bc1, bc2);
  }
}

template <class T>
double sum_squares_multi_cpu(const T* const* xs, const int64_t* ns, int64_t count) {
  int64_t total = 0;
  std::vector<MultiTensorChunk> chunks = chunks_of(ns, count, &total);
  const int64_t nc = int64_t(chunks.size());
  // Per-chunk partial sums added in chunk order: the result does not depend on the thread count.
  std::vector<double> partial(chunks.size(), 0.0);
#pragma omp parallel for if (total > (1 << 16))
  for (int64_t c = 0; c < nc; ++c) {
    const MultiTensorChunk& ch = chunks[size_t(c)];
    const T* x = xs[ch.tensor];
    int64_t end = std::min(ns[ch.tensor], ch.start + kChunk);
    double s = 0;
    for (int64_t i = ch.start; i < end; ++i) s += double(x[i]) * double(x[i]);
    partial[size_t(c)] = s;
  }
  double s = 0;
  for (double v : partial) s += v;
  return s;
}

#define INSTANTIATE(T)                                                                                             \
  template void sgd_step_cpu<T>(T*, const T*, T*, int64_t, double, double, double, double, bool, bool);            \
  template void adamw_step_cpu<T>(T*, const T*, T*, T*, int64_t, double, double, double, double, double, int64_t); \
  template void sgd_step_multi_cpu<T>(const MultiTensorRecord*, int64_t, const SgdHyper&);                         \
  template void adamw_step_multi_cpu<T>(const MultiTensorRecord*, int64_t, const AdamWHyper&);                     \
  template double sum_squares_multi_cpu<T>(const T* const*, const int64_t*, int64_t);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE

}  // namespace engine::kernels
