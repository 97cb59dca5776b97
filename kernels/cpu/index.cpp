#include "kernels/cpu/index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "base/rng.h"

namespace engine::kernels {
namespace {

constexpr int64_t kParallelMin = 1 << 15;
constexpr int64_t kInnerBlock = 256;

// Serial pass before any parallel loop: an exception cannot leave an OpenMP region.
void check_indices(const char* op, const int64_t* idx, int64_t count, int64_t n) {
  for (int64_t j = 0; j < count; ++j)
    ENGINE_CHECK(idx[j] >= 0 && idx[j] < n,
                 "op " << op << ": index " << idx[j] << " at position " << j << " is out of range [0, " << n << ")");
}

}  // namespace

template <class T>
void gather_fwd_cpu(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t n_x, int64_t n_idx, int64_t inner) {
  int64_t total = outer * n_idx * inner;
  check_indices("gather", idx, total, n_x);
#pragma omp parallel for if (total > kParallelMin)
  for (int64_t t = 0; t < total; ++t) {
    int64_t i = t % inner, o = t / (n_idx * inner);
    y[t] = x[(o * n_x + idx[t]) * inner + i];
  }
}

template <class T>
void scatter_add_fwd_cpu(T* y, const T* base, const int64_t* idx, const T* src, int64_t outer, int64_t n_y,
                         int64_t n_idx, int64_t inner) {
  check_indices("scatter_add", idx, outer * n_idx * inner, n_y);
  if (y != base) std::memcpy(y, base, size_t(outer * n_y * inner) * sizeof(T));
  // Each (o, i) column is written by one thread only, in j order: deterministic sums.
  int64_t cols = outer * inner;
#pragma omp parallel for if (outer * n_idx * inner > kParallelMin)
  for (int64_t c = 0; c < cols; ++c) {
    int64_t o = c / inner, i = c % inner;
    for (int64_t j = 0; j < n_idx; ++j) {
      int64_t s = (o * n_idx + j) * inner + i;
      y[(o * n_y + idx[s]) * inner + i] += src[s];
    }
  }
}

template <class T>
void index_select_fwd_cpu(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t n_x, int64_t n_idx,
                          int64_t inner) {
  check_indices("index_select", idx, n_idx, n_x);
  int64_t rows = outer * n_idx;
#pragma omp parallel for if (rows * inner > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t o = r / n_idx, j = r % n_idx;
    std::memcpy(y + r * inner, x + (o * n_x + idx[j]) * inner, size_t(inner) * sizeof(T));
  }
}

template <class T>
void index_add_fwd_cpu(T* y, const T* base, const int64_t* idx, const T* src, int64_t outer, int64_t n_y, int64_t n_idx,
                       int64_t inner) {
  check_indices("index_add", idx, n_idx, n_y);
  if (y != base) std::memcpy(y, base, size_t(outer * n_y * inner) * sizeof(T));
  // Work items are (o, block of inner): disjoint outputs, rows added in j order.
  int64_t blocks = (inner + kInnerBlock - 1) / kInnerBlock;
  int64_t items = outer * blocks;
#pragma omp parallel for if (outer * n_idx * inner > kParallelMin)
  for (int64_t w = 0; w < items; ++w) {
    int64_t o = w / blocks, i0 = (w % blocks) * kInnerBlock, i1 = std::min(inner, i0 + kInnerBlock);
    for (int64_t j = 0; j < n_idx; ++j) {
      T* dst = y + (o * n_y + idx[j]) * inner;
      const T* s = src + (o * n_idx + j) * inner;
      for (int64_t i = i0; i < i1; ++i) dst[i] += s[i];
    }
  }
}

void concat_fwd_cpu(void* y, const void* const* xs, const int64_t* sizes, int64_t count, int64_t outer, int64_t inner,
                    size_t elem_size) {
  int64_t total = 0;
  for (int64_t t = 0; t < count; ++t) total += sizes[t];
  auto* out = static_cast<char*>(y);
#pragma omp parallel for if (outer * total * inner > kParallelMin)
  for (int64_t o = 0; o < outer; ++o) {
    int64_t at = 0;
    for (int64_t t = 0; t < count; ++t) {
      size_t bytes = size_t(sizes[t] * inner) * elem_size;
      if (bytes == 0) continue;  // an empty piece may come with a null pointer
      std::memcpy(out + size_t((o * total + at) * inner) * elem_size,
                  static_cast<const char*>(xs[t]) + size_t(o) * bytes, bytes);
      at += sizes[t];
    }
  }
}

template <class T>
void dropout_fwd_cpu(T* y, uint8_t* mask, const T* x, int64_t n, double p, uint64_t seed, uint64_t offset) {
  T scale = p < 1.0 ? T(1.0 / (1.0 - p)) : T(0);
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    bool keep = double(philox_uniform(seed, offset + uint64_t(i))) >= p;
    mask[i] = keep ? 1 : 0;
    y[i] = keep ? x[i] * scale : T(0);
  }
}

template <class T>
void topk_fwd_cpu(T* values, int64_t* indices, const T* x, int64_t outer, int64_t n, int64_t inner, int64_t k,
                  bool largest) {
  // A strict weak order: NaN above every number, then by value, then lower index first.
  auto ranks_before = [largest](T va, int64_t ia, T vb, int64_t ib) {
    bool na = std::isnan(va), nb = std::isnan(vb);
    if (na != nb) return largest ? na : nb;
    if (!na && va != vb) return largest ? va > vb : va < vb;
    return ia < ib;
  };
  int64_t cols = outer * inner;
#pragma omp parallel if (cols * n > kParallelMin)
  {
    std::vector<int64_t> order(static_cast<size_t>(n));
#pragma omp for
    for (int64_t c = 0; c < cols; ++c) {
      int64_t o = c / inner, i = c % inner;
      const T* col = x + o * n * inner + i;
      for (int64_t j = 0; j < n; ++j) order[size_t(j)] = j;
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [&](int64_t a, int64_t b) { return ranks_before(col[a * inner], a, col[b * inner], b); });
      for (int64_t r = 0; r < k; ++r) {
        int64_t at = (o * k + r) * inner + i;
        indices[at] = order[size_t(r)];
        values[at] = col[order[size_t(r)] * inner];
      }
    }
  }
}

#define INSTANTIATE(T)                                                                                              \
  template void gather_fwd_cpu<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t, int64_t);                \
  template void scatter_add_fwd_cpu<T>(T*, const T*, const int64_t*, const T*, int64_t, int64_t, int64_t, int64_t); \
  template void index_select_fwd_cpu<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t, int64_t);          \
  template void index_add_fwd_cpu<T>(T*, const T*, const int64_t*, const T*, int64_t, int64_t, int64_t, int64_t);   \
  template void dropout_fwd_cpu<T>(T*, uint8_t*, const T*, int64_t, double, uint64_t, uint64_t);                    \
  template void topk_fwd_cpu<T>(T*, int64_t*, const T*, int64_t, int64_t, int64_t, int64_t, bool);
INSTANTIATE(float)
INSTANTIATE(double)
#undef INSTANTIATE
// Row copies move bits: one instantiation serves bf16 and f16.
template void index_select_fwd_cpu<uint16_t>(uint16_t*, const uint16_t*, const int64_t*, int64_t, int64_t, int64_t,
                                             int64_t);

}  // namespace engine::kernels
