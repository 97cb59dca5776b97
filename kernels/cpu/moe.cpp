#include "kernels/cpu/moe.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "base/check.h"
#include "kernels/cpu/linalg.h"

namespace engine::kernels {
namespace {

void check_offsets(const char* op, const int64_t* offsets, int64_t E, int64_t R) {
  ENGINE_CHECK(offsets[0] == 0, "op " << op << ": offsets[0] = " << offsets[0] << ", expected 0");
  for (int64_t e = 0; e < E; ++e)
    ENGINE_CHECK(offsets[e + 1] >= offsets[e], "op " << op << ": offsets decrease at expert " << e << " (" << offsets[e]
                                                     << " then " << offsets[e + 1] << ")");
  ENGINE_CHECK(offsets[E] <= R,
               "op " << op << ": offsets end at " << offsets[E] << " but the buffer has " << R << " rows");
}

template <class T>
void zero_rows(T* y, int64_t from, int64_t to, int64_t width) {
  std::fill(y + from * width, y + to * width, T(0));
}

}  // namespace

template <class P>
void moe_route_fwd_cpu(int64_t* row_token, int64_t* row_slot, int64_t* row_expert, int64_t* offsets, int64_t* counts,
                       const int64_t* expert_idx, const P* priority, const MoeRouteParams& p) {
  const int64_t T = p.T, k = p.k, E = p.E, S = T * k;
  for (int64_t s = 0; s < S; ++s)
    ENGINE_CHECK(expert_idx[s] >= 0 && expert_idx[s] < E,
                 "op moe_route: expert index " << expert_idx[s] << " of slot " << s << " (token " << s / k
                                               << ", choice " << s % k << ") is out of range [0, " << E << ")");
  std::fill(counts, counts + E, int64_t(0));
  for (int64_t s = 0; s < S; ++s) ++counts[expert_idx[s]];

  std::vector<uint8_t> kept(static_cast<size_t>(S), 1);
  if (p.drop) {
    // Each expert's slots in rank order (a counting sort visiting slots by (j, t)),
    // then by priority; those past capacity are dropped.
    std::vector<int64_t> start(static_cast<size_t>(E) + 1, 0), fill(static_cast<size_t>(E)),
        ranked(static_cast<size_t>(S));
    for (int64_t e = 0; e < E; ++e) start[size_t(e) + 1] = start[size_t(e)] + counts[e];
    std::copy(start.begin(), start.end() - 1, fill.begin());
    for (int64_t j = 0; j < k; ++j)
      for (int64_t t = 0; t < T; ++t) {
        int64_t s = t * k + j;
        ranked[size_t(fill[size_t(expert_idx[s])]++)] = s;
      }
    for (int64_t e = 0; e < E; ++e) {
      auto first = ranked.begin() + start[size_t(e)], last = ranked.begin() + start[size_t(e) + 1];
      if (priority && last - first > p.capacity) {
        // NaN ranks last, so that the comparison stays a strict weak order.
        auto key = [&](int64_t s) {
          double v = double(priority[s]);
          return std::isnan(v) ? -std::numeric_limits<double>::infinity() : v;
        };
        std::stable_sort(first, last, [&](int64_t a, int64_t b) { return key(a) > key(b); });
      }
      for (auto it = first + std::min<int64_t>(p.capacity, last - first); it < last; ++it) kept[size_t(*it)] = 0;
    }
  }

  std::vector<int64_t> pos(static_cast<size_t>(E));
  offsets[0] = 0;
  for (int64_t e = 0; e < E; ++e) {
    int64_t keep = p.drop ? std::min(counts[e], p.capacity) : counts[e];
    pos[size_t(e)] = offsets[e];
    offsets[e + 1] = offsets[e] + keep;
  }
  int64_t next_dropped = offsets[E];
  for (int64_t s = 0; s < S; ++s) {
    int64_t e = expert_idx[s];
    int64_t r = kept[size_t(s)] ? pos[size_t(e)]++ : next_dropped++;
    row_token[r] = s / k;
    row_slot[r] = s;
    row_expert[r] = e;
  }
}

template <class T>
void moe_grouped_matmul_fwd_cpu(T* y, const T* x, const T* w, const int64_t* offsets, const MoeGroupedMatmulParams& p) {
  check_offsets("moe_grouped_matmul", offsets, p.E, p.R);
  // BLAS threads each GEMM, so the loop over experts stays serial.
  for (int64_t e = 0; e < p.E; ++e) {
    int64_t r0 = offsets[e], n = offsets[e + 1] - r0;
    gemm_overwrite<T>(false, false, n, p.Cout, p.Cin, x + r0 * p.Cin, p.Cin, w + e * p.Cin * p.Cout, p.Cout,
                      y + r0 * p.Cout, p.Cout);
  }
  zero_rows(y, offsets[p.E], p.R, p.Cout);
}

template <class T>
void moe_grouped_matmul_bwd_data_cpu(T* gx, const T* gy, const T* w, const int64_t* offsets,
                                     const MoeGroupedMatmulParams& p) {
  check_offsets("moe_grouped_matmul_bwd_data", offsets, p.E, p.R);
  for (int64_t e = 0; e < p.E; ++e) {
    int64_t r0 = offsets[e], n = offsets[e + 1] - r0;
    gemm_overwrite<T>(false, true, n, p.Cin, p.Cout, gy + r0 * p.Cout, p.Cout, w + e * p.Cin * p.Cout, p.Cout,
                      gx + r0 * p.Cin, p.Cin);
  }
  zero_rows(gx, offsets[p.E], p.R, p.Cin);
}

template <class T>
void moe_grouped_matmul_bwd_weight_cpu(T* gw, const T* x, const T* gy, const int64_t* offsets,
                                       const MoeGroupedMatmulParams& p) {
  check_offsets("moe_grouped_matmul_bwd_weight", offsets, p.E, p.R);
  for (int64_t e = 0; e < p.E; ++e) {
    int64_t r0 = offsets[e], n = offsets[e + 1] - r0;
    T* g = gw + e * p.Cin * p.Cout;
    if (n == 0) {
      zero_rows(g, 0, p.Cin, p.Cout);
      continue;
    }
    gemm_overwrite<T>(true, false, p.Cin, p.Cout, n, x + r0 * p.Cin, p.Cin, gy + r0 * p.Cout, p.Cout, g, p.Cout);
  }
}

#define ENGINE_MOE_INSTANTIATE(T)                                                                                     \
  template void moe_route_fwd_cpu<T>(int64_t*, int64_t*, int64_t*, int64_t*, int64_t*, const int64_t*, const T*,      \
                                     const MoeRouteParams&);                                                          \
  template void moe_grouped_matmul_fwd_cpu<T>(T*, const T*, const T*, const int64_t*, const MoeGroupedMatmulParams&); \
  template void moe_grouped_matmul_bwd_data_cpu<T>(T*, const T*, const T*, const int64_t*,                            \
                                                   const MoeGroupedMatmulParams&);                                    \
  template void moe_grouped_matmul_bwd_weight_cpu<T>(T*, const T*, const T*, const int64_t*,                          \
                                                     const MoeGroupedMatmulParams&);
ENGINE_MOE_INSTANTIATE(float)
ENGINE_MOE_INSTANTIATE(double)
#undef ENGINE_MOE_INSTANTIATE
// bf16 bits: the grouped GEMMs only (routing runs on f32 priorities).
template void moe_grouped_matmul_fwd_cpu<uint16_t>(uint16_t*, const uint16_t*, const uint16_t*, const int64_t*,
                                                   const MoeGroupedMatmulParams&);
template void moe_grouped_matmul_bwd_data_cpu<uint16_t>(uint16_t*, const uint16_t*, const uint16_t*, const int64_t*,
                                                        const MoeGroupedMatmulParams&);
template void moe_grouped_matmul_bwd_weight_cpu<uint16_t>(uint16_t*, const uint16_t*, const uint16_t*, const int64_t*,
                                                          const MoeGroupedMatmulParams&);

}  // namespace engine::kernels
