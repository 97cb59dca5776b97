#include <algorithm>
#include <climits>
#include <cub/cub.cuh>

#include "base/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/moe.h"

namespace engine::kernels {
namespace {

// Routing, in three launches: per-expert counts (integer atomics, so the result is
// exact), which slots each over-full expert keeps (each slot counts the slots of its
// expert that rank before it: O(S) per slot), and one block placing the slots stably.
// The performance follow-up is a CUB radix sort by (expert, rank key) and a multi-block
// histogram + scan for the placement.

__global__ void route_count_kernel(int64_t* counts, const int64_t* expert_idx, int64_t S, int64_t E,
                                   CudaIndexError* err) {
  ENGINE_GRID_STRIDE(s, S) {
    int64_t e = expert_idx[s];
    if (e >= 0 && e < E)
      atomicAdd(reinterpret_cast<unsigned long long*>(counts + e), 1ULL);
    else
      report_bad_index(err, e, E);
  }
}

// The rank key of moe_route_fwd_cpu: the priority as a double, NaN ranking last.
template <class P>
__device__ __forceinline__ double rank_key(const P* priority, int64_t s) {
  double v = double(priority[s]);
  return d_isnan(v) ? -d_inf<double>() : v;
}

// kept[s] = 1 when slot s survives capacity: its expert is not over-full, or fewer than
// `capacity` slots of its expert rank before it (higher key, then earlier (j, t)).
template <class P>
__global__ void route_keep_kernel(int64_t* kept, const int64_t* counts, const int64_t* expert_idx, const P* priority,
                                  MoeRouteParams p) {
  const int64_t S = p.T * p.k;
  ENGINE_GRID_STRIDE(s, S) {
    int64_t e = expert_idx[s];
    if (e < 0 || e >= p.E) {
      kept[s] = 0;
      continue;
    }
    if (!p.drop || counts[e] <= p.capacity) {
      kept[s] = 1;
      continue;
    }
    const int64_t order = (s % p.k) * p.T + s / p.k;
    const double key = priority ? rank_key(priority, s) : 0.0;
    int64_t rank = 0;
    for (int64_t o = 0; o < S && rank < p.capacity; ++o) {
      if (o == s || expert_idx[o] != e) continue;
      int64_t order_o = (o % p.k) * p.T + o / p.k;
      bool before;
      if (priority) {
        double key_o = rank_key(priority, o);
        before = key_o > key || (key_o == key && order_o < order);
      } else {
        before = order_o < order;
      }
      if (before) ++rank;
    }
    kept[s] = rank < p.capacity ? 1 : 0;
  }
}

constexpr int kRouteBlock = 256;

// One block: offsets from the counts, then a stable counting placement over the slots
// in ascending order, kRouteBlock at a time. Bucket e < E holds expert e's kept slots,
// bucket E the dropped ones (from row offsets[E] on). cursor [E + 1] is scratch.
__global__ void route_place_kernel(int64_t* row_token, int64_t* row_slot, int64_t* row_expert, int64_t* offsets,
                                   int64_t* cursor, const int64_t* counts, const int64_t* kept,
                                   const int64_t* expert_idx, MoeRouteParams p) {
  ENGINE_SHARED(int64_t, bucket, [kRouteBlock]);
  const int64_t S = p.T * p.k, E = p.E;
  const int tid = int(threadIdx.x);
  if (tid == 0) {
    // E is small next to S: a serial scan keeps this obviously right.
    offsets[0] = 0;
    for (int64_t e = 0; e < E; ++e) {
      int64_t keep = p.drop && counts[e] > p.capacity ? p.capacity : counts[e];
      cursor[e] = offsets[e];
      offsets[e + 1] = offsets[e] + keep;
    }
    cursor[E] = offsets[E];
  }
  __syncthreads();
  for (int64_t base = 0; base < S; base += kRouteBlock) {
    const int64_t s = base + tid;
    const int64_t b = s < S ? (kept[s] ? expert_idx[s] : E) : -1;
    bucket[tid] = b;
    __syncthreads();
    int64_t before = 0, after = 0;
    for (int u = 0; u < kRouteBlock; ++u)
      if (bucket[u] == b) {
        if (u < tid) ++before;
        if (u > tid) ++after;
      }
    int64_t r = 0;
    if (s < S) {
      r = cursor[b] + before;
      row_token[r] = s / p.k;
      row_slot[r] = s;
      row_expert[r] = expert_idx[s];
    }
    __syncthreads();
    // The last slot of each bucket in this chunk moves its cursor on.
    if (s < S && after == 0) cursor[b] = r + 1;
    __syncthreads();
  }
}

// The sorting route. A priority becomes an unsigned key whose ascending order is the
// CPU's rank order: larger priorities first, NaN ranked as -inf, -0 equal to +0.
__device__ __forceinline__ uint64_t descending_key(double v) {
  if (v == 0.0) v = 0.0;
  uint64_t u = uint64_t(__double_as_longlong(v));
  u = (u >> 63) ? ~u : (u | (1ULL << 63));
  return ~u;
}

// Position o of the rank order (first choices before second ones, earlier tokens first)
// holds slot (o % T) * k + o / T.
template <class P>
__global__ void sort_init_kernel(uint64_t* keys, int64_t* vals, const P* priority, MoeRouteParams p) {
  ENGINE_GRID_STRIDE(o, p.T * p.k) {
    const int64_t s = (o % p.T) * p.k + o / p.T;
    vals[o] = s;
    if (priority) keys[o] = descending_key(rank_key(priority, s));
  }
}

// The bucket of each slot in `vals` order: its expert, or E for a bad index.
__global__ void sort_bucket_kernel(uint32_t* bucket, const int64_t* vals, const int64_t* expert_idx, int64_t S,
                                   int64_t E) {
  ENGINE_GRID_STRIDE(i, S) {
    const int64_t e = expert_idx[vals[i]];
    bucket[i] = uint32_t(e >= 0 && e < E ? e : E);
  }
}

// final_bucket[s] = the expert of slot s when it is kept, E when dropped. Slots come in
// expert order, each expert's in rank order starting at starts[e] (rank_vals null: no
// dropping, vals are the slots themselves).
__global__ void sort_keep_kernel(uint32_t* final_bucket, const int64_t* rank_vals, const uint32_t* rank_bucket,
                                 const int64_t* starts, const int64_t* expert_idx, MoeRouteParams p) {
  ENGINE_GRID_STRIDE(i, p.T * p.k) {
    if (!rank_vals) {
      const int64_t e = expert_idx[i];
      final_bucket[i] = uint32_t(e >= 0 && e < p.E ? e : p.E);
      continue;
    }
    const int64_t s = rank_vals[i];
    const uint32_t e = rank_bucket[i];
    final_bucket[s] = e < uint32_t(p.E) && i - starts[e] < p.capacity ? e : uint32_t(p.E);
  }
}

__global__ void iota_kernel(int64_t* v, int64_t n) { ENGINE_GRID_STRIDE(i, n) v[i] = i; }

// kept[e] = the rows expert e keeps; kept[E] = 0, so that the exclusive scan of E + 1
// values ends with offsets[E] = R.
__global__ void sort_kept_counts_kernel(int64_t* kept, const int64_t* counts, MoeRouteParams p) {
  ENGINE_GRID_STRIDE(e, p.E + 1) {
    if (e == p.E) {
      kept[e] = 0;
    } else {
      kept[e] = p.drop && counts[e] > p.capacity ? p.capacity : counts[e];
    }
  }
}

__global__ void sort_rows_kernel(int64_t* row_token, int64_t* row_expert, const int64_t* row_slot,
                                 const int64_t* expert_idx, int64_t S, int64_t k) {
  ENGINE_GRID_STRIDE(r, S) {
    const int64_t s = row_slot[r];
    row_token[r] = s / k;
    row_expert[r] = expert_idx[s];
  }
}

// The scratch of the sorting route, carved in this order from one buffer.
struct SortScratch {
  uint64_t *keys_a = nullptr, *keys_b = nullptr;
  int64_t *vals_a = nullptr, *vals_b = nullptr, *starts = nullptr, *kept = nullptr;
  uint32_t *bucket_a = nullptr, *bucket_b = nullptr;
  void* temp = nullptr;
  size_t temp_bytes = 0, total = 0;
};

size_t round256(size_t n) { return (n + 255) / 256 * 256; }

int bucket_bits(int64_t E) {
  int b = 1;
  while ((int64_t(1) << b) <= E) ++b;
  return b;
}

SortScratch sort_scratch(void* base, const MoeRouteParams& p, bool has_priority) {
  const int64_t S = p.T * p.k, E = p.E;
  ENGINE_CHECK(S <= INT_MAX, "op moe_route: " << S << " slots do not fit the 32-bit count CUB takes");
  SortScratch sc;
  size_t sort64 = 0, sort32 = 0, scan = 0;
  const int n = int(S);
  if (has_priority)
    ENGINE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
        nullptr, sort64, static_cast<const uint64_t*>(nullptr), static_cast<uint64_t*>(nullptr),
        static_cast<const int64_t*>(nullptr), static_cast<int64_t*>(nullptr), n));
  ENGINE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
      nullptr, sort32, static_cast<const uint32_t*>(nullptr), static_cast<uint32_t*>(nullptr),
      static_cast<const int64_t*>(nullptr), static_cast<int64_t*>(nullptr), n, 0, bucket_bits(E)));
  ENGINE_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, scan, static_cast<const int64_t*>(nullptr),
                                                  static_cast<int64_t*>(nullptr), int(E + 1)));
  sc.temp_bytes = std::max(std::max(sort64, sort32), scan);
  char* at = static_cast<char*>(base);
  auto carve = [&](size_t bytes) {
    char* here = at;
    sc.total += round256(bytes);
    if (at) at += round256(bytes);
    return here;
  };
  const size_t s64 = size_t(S) * 8, s32 = size_t(S) * 4;
  if (has_priority) {
    sc.keys_a = reinterpret_cast<uint64_t*>(carve(s64));
    sc.keys_b = reinterpret_cast<uint64_t*>(carve(s64));
  }
  sc.vals_a = reinterpret_cast<int64_t*>(carve(s64));
  sc.vals_b = reinterpret_cast<int64_t*>(carve(s64));
  sc.starts = reinterpret_cast<int64_t*>(carve(size_t(E + 1) * 8));
  sc.kept = reinterpret_cast<int64_t*>(carve(size_t(E + 1) * 8));
  sc.bucket_a = reinterpret_cast<uint32_t*>(carve(s32));
  sc.bucket_b = reinterpret_cast<uint32_t*>(carve(s32));
  sc.temp = carve(sc.temp_bytes);
  return sc;
}

// Grouped GEMM tiles: kTile x kTile outputs per block of kTile x kTile threads, one
// output each, operands staged through shared memory in the accumulation type. The
// performance follow-up is cublasGemmGroupedBatchedEx (or a tensor-core kernel).
constexpr int kTile = 16;

// Offsets are checked by every block alike, so that either all of them run or none.
__device__ bool offsets_ok(const int64_t* offsets, int64_t E, int64_t R, CudaIndexError* err) {
  bool first = blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0 && threadIdx.y == 0;
  if (offsets[0] != 0) {
    if (first) report_bad_index(err, offsets[0], 1);
    return false;
  }
  for (int64_t e = 0; e < E; ++e)
    if (offsets[e + 1] < offsets[e] || offsets[e + 1] > R) {
      if (first) report_bad_index(err, offsets[e + 1], R + 1);
      return false;
    }
  return true;
}

// C tile at (m0, n0) of A [M, K] times B [K, N], A(m, kk) = A[TransA ? kk * lda + m : m * lda + kk] and
// B(kk, n) = B[TransB ? n * ldb + kk : kk * ldb + n]; every thread of the block must call it.
template <class T, bool TransA, bool TransB>
__device__ acc_t<T> tile_product(const T* A, int64_t lda, const T* B, int64_t ldb, int64_t M, int64_t N, int64_t K,
                                 int64_t m0, int64_t n0) {
  using A_t = acc_t<T>;
  ENGINE_SHARED(A_t, As, [kTile][kTile]);
  ENGINE_SHARED(A_t, Bs, [kTile][kTile + 1]);
  const int ty = int(threadIdx.y), tx = int(threadIdx.x);
  A_t acc = A_t(0);
  for (int64_t k0 = 0; k0 < K; k0 += kTile) {
    int64_t m = m0 + ty, ka = k0 + tx;
    As[ty][tx] = (m < M && ka < K) ? to_acc(TransA ? A[ka * lda + m] : A[m * lda + ka]) : A_t(0);
    int64_t kb = k0 + ty, n = n0 + tx;
    Bs[ty][tx] = (kb < K && n < N) ? to_acc(TransB ? B[n * ldb + kb] : B[kb * ldb + n]) : A_t(0);
    __syncthreads();
    for (int kk = 0; kk < kTile; ++kk) acc += As[ty][kk] * Bs[kk][tx];
    __syncthreads();
  }
  return acc;
}

// Row tiles never straddle experts: block x walks the experts' row tiles in order
// (gridDim.x bounds their total, the surplus blocks return).
__device__ bool find_row_tile(const int64_t* offsets, int64_t E, int64_t* expert, int64_t* row0) {
  int64_t b = blockIdx.x;
  for (int64_t e = 0; e < E; ++e) {
    int64_t n = offsets[e + 1] - offsets[e], tiles = (n + kTile - 1) / kTile;
    if (b < tiles) {
      *expert = e;
      *row0 = offsets[e] + b * kTile;
      return true;
    }
    b -= tiles;
  }
  return false;
}

// Rows [offsets[E], R) of y [R, width] are zero (slots without an expert row).
template <class T>
__global__ void zero_tail_kernel(T* y, const int64_t* offsets, int64_t E, int64_t R, int64_t width) {
  const int64_t from = offsets[E];
  ENGINE_GRID_STRIDE(i, R * width) {
    if (i / width >= from) y[i] = from_acc<T>(acc_t<T>(0));
  }
}

// out rows of each expert = in rows [R, K] times w[e] ([K, N], or [N, K] read transposed).
template <class T, bool TransW>
__global__ void grouped_rows_kernel(T* out, const T* in, const T* w, const int64_t* offsets, int64_t E, int64_t R,
                                    int64_t K, int64_t N, CudaIndexError* err) {
  if (!offsets_ok(offsets, E, R, err)) return;
  int64_t e, r0;
  if (!find_row_tile(offsets, E, &e, &r0)) return;
  const int64_t rows = offsets[e + 1] - r0, n0 = int64_t(blockIdx.y) * kTile;
  acc_t<T> acc = tile_product<T, false, TransW>(in + r0 * K, K, w + e * K * N, TransW ? K : N, rows, N, K, 0, n0);
  int64_t m = threadIdx.y, n = n0 + threadIdx.x;
  if (m < rows && n < N) out[(r0 + m) * N + n] = from_acc<T>(acc);
}

// gw[e] [Cin, Cout] = x_e^T gy_e; block x covers expert e's row tile of gw.
template <class T>
__global__ void grouped_weight_kernel(T* gw, const T* x, const T* gy, const int64_t* offsets, int64_t E, int64_t R,
                                      int64_t Cin, int64_t Cout, CudaIndexError* err) {
  if (!offsets_ok(offsets, E, R, err)) return;
  const int64_t mtiles = (Cin + kTile - 1) / kTile;
  const int64_t e = int64_t(blockIdx.x) / mtiles, m0 = (int64_t(blockIdx.x) % mtiles) * kTile;
  const int64_t n0 = int64_t(blockIdx.y) * kTile, r0 = offsets[e], n = offsets[e + 1] - r0;
  acc_t<T> acc = tile_product<T, true, false>(x + r0 * Cin, Cin, gy + r0 * Cout, Cout, Cin, Cout, n, m0, n0);
  int64_t i = m0 + threadIdx.y, c = n0 + threadIdx.x;
  if (i < Cin && c < Cout) gw[(e * Cin + i) * Cout + c] = from_acc<T>(acc);
}

unsigned tiles_of(int64_t n) { return unsigned((n + kTile - 1) / kTile); }

template <class T, bool TransW>
void grouped_rows(T* out, const T* in, const T* w, const int64_t* offsets, int64_t E, int64_t R, int64_t K, int64_t N,
                  CudaIndexError* err, cudaStream_t stream) {
  if (R * N == 0) return;
  // sum over experts of ceil(n_e / kTile) <= ceil(R / kTile) + E.
  dim3 grid(unsigned(tiles_of(R) + E), tiles_of(N)), block(kTile, kTile);
  ENGINE_LAUNCH(grid, block, 0, stream, grouped_rows_kernel<T, TransW>)(out, in, w, offsets, E, R, K, N, err);
  ENGINE_CUDA_LAUNCH_CHECK("grouped_rows_kernel");
  ENGINE_LAUNCH(grid_for(R * N), kBlock, 0, stream, zero_tail_kernel<T>)(out, offsets, E, R, N);
  ENGINE_CUDA_LAUNCH_CHECK("zero_tail_kernel");
}

}  // namespace

template <class P>
void moe_route_fwd_cuda(int64_t* row_token, int64_t* row_slot, int64_t* row_expert, int64_t* offsets, int64_t* counts,
                        const int64_t* expert_idx, const P* priority, int64_t* scratch, const MoeRouteParams& p,
                        CudaIndexError* err, cudaStream_t stream) {
  const int64_t S = p.T * p.k;
  ENGINE_CUDA_CHECK(cudaMemsetAsync(counts, 0, size_t(p.E) * sizeof(int64_t), stream));
  if (S == 0) {
    ENGINE_CUDA_CHECK(cudaMemsetAsync(offsets, 0, size_t(p.E + 1) * sizeof(int64_t), stream));
    return;
  }
  int64_t *cursor = scratch, *kept = scratch + p.E + 1;
  ENGINE_LAUNCH(grid_for(S), kBlock, 0, stream, route_count_kernel)(counts, expert_idx, S, p.E, err);
  ENGINE_CUDA_LAUNCH_CHECK("route_count_kernel");
  ENGINE_LAUNCH(grid_for(S), kBlock, 0, stream, route_keep_kernel<P>)(kept, counts, expert_idx, priority, p);
  ENGINE_CUDA_LAUNCH_CHECK("route_keep_kernel");
  ENGINE_LAUNCH(1, kRouteBlock, 0, stream, route_place_kernel)
  (row_token, row_slot, row_expert, offsets, cursor, counts, kept, expert_idx, p);
  ENGINE_CUDA_LAUNCH_CHECK("route_place_kernel");
}

size_t moe_route_sort_scratch_bytes(const MoeRouteParams& p, bool has_priority) {
  return sort_scratch(nullptr, p, has_priority).total;
}

template <class P>
void moe_route_sort_fwd_cuda(int64_t* row_token, int64_t* row_slot, int64_t* row_expert, int64_t* offsets,
                             int64_t* counts, const int64_t* expert_idx, const P* priority, void* scratch,
                             const MoeRouteParams& p, CudaIndexError* err, cudaStream_t stream) {
  const int64_t S = p.T * p.k, E = p.E;
  ENGINE_CUDA_CHECK(cudaMemsetAsync(counts, 0, size_t(E) * sizeof(int64_t), stream));
  if (S == 0) {
    ENGINE_CUDA_CHECK(cudaMemsetAsync(offsets, 0, size_t(E + 1) * sizeof(int64_t), stream));
    return;
  }
  SortScratch sc = sort_scratch(scratch, p, priority != nullptr);
  const int n = int(S), bits = bucket_bits(E);
  size_t temp_bytes = sc.temp_bytes;
  ENGINE_LAUNCH(grid_for(S), kBlock, 0, stream, route_count_kernel)(counts, expert_idx, S, E, err);
  ENGINE_CUDA_LAUNCH_CHECK("route_count_kernel");
  const int64_t* rank_vals = nullptr;
  const uint32_t* rank_bucket = nullptr;
  if (p.drop) {
    ENGINE_LAUNCH(grid_for(S), kBlock, 0, stream, sort_init_kernel<P>)(sc.keys_a, sc.vals_a, priority, p);
    ENGINE_CUDA_LAUNCH_CHECK("sort_init_kernel");
    const int64_t* by_priority = sc.vals_a;
    if (priority) {
      ENGINE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(sc.temp, temp_bytes, sc.keys_a, sc.keys_b, sc.vals_a, sc.vals_b,
                                                        n, 0, 64, stream));
      by_priority = sc.vals_b;
    }
    ENGINE_LAUNCH(grid_for(S), kBlock, 0, stream, sort_bucket_kernel)(sc.bucket_a, by_priority, expert_idx, S, E);
    ENGINE_CUDA_LAUNCH_CHECK("sort_bucket_kernel");
    // Radix sort is stable: within an expert the slots stay in rank order.
    int64_t* ranked = by_priority == sc.vals_a ? sc.vals_b : sc.vals_a;
    ENGINE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(sc.temp, temp_bytes, sc.bucket_a, sc.bucket_b, by_priority,
                                                      ranked, n, 0, bits, stream));
    ENGINE_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(sc.temp, temp_bytes, counts, sc.starts, int(E), stream));
    rank_vals = ranked;
    rank_bucket = sc.bucket_b;
  }
  // The final buckets go to bucket_a, which the ranking no longer needs.
  ENGINE_LAUNCH(grid_for(S), kBlock, 0, stream, sort_keep_kernel)
  (sc.bucket_a, rank_vals, rank_bucket, sc.starts, expert_idx, p);
  ENGINE_CUDA_LAUNCH_CHECK("sort_keep_kernel");
  ENGINE_LAUNCH(grid_for(S), kBlock, 0, stream, iota_kernel)(sc.vals_a, S);
  ENGINE_CUDA_LAUNCH_CHECK("iota_kernel");
  ENGINE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(sc.temp, temp_bytes, sc.bucket_a, sc.bucket_b, sc.vals_a, row_slot,
                                                    n, 0, bits, stream));
  ENGINE_LAUNCH(grid_for(E + 1), kBlock, 0, stream, sort_kept_counts_kernel)(sc.kept, counts, p);
  ENGINE_CUDA_LAUNCH_CHECK("sort_kept_counts_kernel");
  ENGINE_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(sc.temp, temp_bytes, sc.kept, offsets, int(E + 1), stream));
  ENGINE_LAUNCH(grid_for(S), kBlock, 0, stream, sort_rows_kernel)(row_token, row_expert, row_slot, expert_idx, S, p.k);
  ENGINE_CUDA_LAUNCH_CHECK("sort_rows_kernel");
}

template <class T>
void moe_grouped_matmul_fwd_cuda(T* y, const T* x, const T* w, const int64_t* offsets, const MoeGroupedMatmulParams& p,
                                 CudaIndexError* err, cudaStream_t stream) {
  grouped_rows<T, false>(y, x, w, offsets, p.E, p.R, p.Cin, p.Cout, err, stream);
}

template <class T>
void moe_grouped_matmul_bwd_data_cuda(T* gx, const T* gy, const T* w, const int64_t* offsets,
                                      const MoeGroupedMatmulParams& p, CudaIndexError* err, cudaStream_t stream) {
  grouped_rows<T, true>(gx, gy, w, offsets, p.E, p.R, p.Cout, p.Cin, err, stream);
}

template <class T>
void moe_grouped_matmul_bwd_weight_cuda(T* gw, const T* x, const T* gy, const int64_t* offsets,
                                        const MoeGroupedMatmulParams& p, CudaIndexError* err, cudaStream_t stream) {
  if (p.E * p.Cin * p.Cout == 0) return;
  dim3 grid(unsigned(p.E * tiles_of(p.Cin)), tiles_of(p.Cout)), block(kTile, kTile);
  ENGINE_LAUNCH(grid, block, 0, stream, grouped_weight_kernel<T>)(gw, x, gy, offsets, p.E, p.R, p.Cin, p.Cout, err);
  ENGINE_CUDA_LAUNCH_CHECK("grouped_weight_kernel");
}

#define INSTANTIATE_GEMM(T)                                                                                           \
  template void moe_grouped_matmul_fwd_cuda<T>(T*, const T*, const T*, const int64_t*, const MoeGroupedMatmulParams&, \
                                               CudaIndexError*, cudaStream_t);                                        \
  template void moe_grouped_matmul_bwd_data_cuda<T>(T*, const T*, const T*, const int64_t*,                           \
                                                    const MoeGroupedMatmulParams&, CudaIndexError*, cudaStream_t);    \
  template void moe_grouped_matmul_bwd_weight_cuda<T>(T*, const T*, const T*, const int64_t*,                         \
                                                      const MoeGroupedMatmulParams&, CudaIndexError*, cudaStream_t);
INSTANTIATE_GEMM(float)
INSTANTIATE_GEMM(double)
INSTANTIATE_GEMM(bf16_t)
INSTANTIATE_GEMM(f16_t)
#undef INSTANTIATE_GEMM

template void moe_route_fwd_cuda<float>(int64_t*, int64_t*, int64_t*, int64_t*, int64_t*, const int64_t*, const float*,
                                        int64_t*, const MoeRouteParams&, CudaIndexError*, cudaStream_t);
template void moe_route_sort_fwd_cuda<float>(int64_t*, int64_t*, int64_t*, int64_t*, int64_t*, const int64_t*,
                                             const float*, void*, const MoeRouteParams&, CudaIndexError*, cudaStream_t);
template void moe_route_sort_fwd_cuda<double>(int64_t*, int64_t*, int64_t*, int64_t*, int64_t*, const int64_t*,
                                              const double*, void*, const MoeRouteParams&, CudaIndexError*,
                                              cudaStream_t);
template void moe_route_fwd_cuda<double>(int64_t*, int64_t*, int64_t*, int64_t*, int64_t*, const int64_t*,
                                         const double*, int64_t*, const MoeRouteParams&, CudaIndexError*, cudaStream_t);

}  // namespace engine::kernels
