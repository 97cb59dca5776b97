#include "base/check.h"
#include "base/rng.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/index.h"
#include "kernels/cuda/launch.cuh"

namespace engine::kernels {
namespace {

__device__ __forceinline__ bool index_ok(int64_t v, int64_t n, CudaIndexError* err) {
  if (v >= 0 && v < n) return true;
  report_bad_index(err, v, n);
  return false;
}

template <class T>
__device__ __forceinline__ T nan_of() {
  return from_acc<T>(acc_t<T>(__longlong_as_double(0x7ff8000000000000LL)));
}

template <class T>
__global__ void gather_kernel(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t n_x, int64_t n_idx,
                              int64_t inner, CudaIndexError* err) {
  ENGINE_GRID_STRIDE(t, outer * n_idx * inner) {
    int64_t i = t % inner, o = t / (n_idx * inner), j = idx[t];
    y[t] = index_ok(j, n_x, err) ? x[(o * n_x + j) * inner + i] : nan_of<T>();
  }
}

template <class T>
__global__ void scatter_add_kernel(T* y, const int64_t* idx, const T* src, int64_t outer, int64_t n_y, int64_t n_idx,
                                   int64_t inner, CudaIndexError* err) {
  ENGINE_GRID_STRIDE(s, outer * n_idx * inner) {
    int64_t i = s % inner, o = s / (n_idx * inner), j = idx[s];
    if (index_ok(j, n_y, err)) atomicAdd(y + (o * n_y + j) * inner + i, src[s]);
  }
}

template <class T>
__global__ void index_select_kernel(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t n_x, int64_t n_idx,
                                    int64_t inner, CudaIndexError* err) {
  ENGINE_GRID_STRIDE(t, outer * n_idx * inner) {
    int64_t i = t % inner, j = (t / inner) % n_idx, o = t / (n_idx * inner), row = idx[j];
    y[t] = index_ok(row, n_x, err) ? x[(o * n_x + row) * inner + i] : nan_of<T>();
  }
}

template <class T>
__global__ void index_add_kernel(T* y, const int64_t* idx, const T* src, int64_t outer, int64_t n_y, int64_t n_idx,
                                 int64_t inner, CudaIndexError* err) {
  ENGINE_GRID_STRIDE(s, outer * n_idx * inner) {
    int64_t i = s % inner, j = (s / inner) % n_idx, o = s / (n_idx * inner), row = idx[j];
    if (index_ok(row, n_y, err)) atomicAdd(y + (o * n_y + row) * inner + i, src[s]);
  }
}

// Piece t of a concat: its [outer, size * inner] block lands at column `at * inner`
// of each row of y, rows being total * inner long.
template <class W>
__global__ void concat_piece_kernel(W* y, const W* x, int64_t outer, int64_t piece, int64_t row, int64_t at) {
  ENGINE_GRID_STRIDE(i, outer * piece) { y[(i / piece) * row + at + i % piece] = x[i]; }
}

template <class T>
__global__ void dropout_kernel(T* y, uint8_t* mask, const T* x, int64_t n, double p, uint64_t seed, uint64_t offset,
                               acc_t<T> scale) {
  ENGINE_GRID_STRIDE(i, n) {
    bool keep = double(philox_uniform(seed, offset + uint64_t(i))) >= p;
    mask[i] = keep ? 1 : 0;
    y[i] = keep ? from_acc<T>(to_acc(x[i]) * scale) : from_acc<T>(acc_t<T>(0));
  }
}

// a (value va, index ia) ranks before b: NaN above every number, then by value, then
// the lower index (the order of topk_fwd_cpu).
template <class A>
__device__ __forceinline__ bool ranks_before(A va, int64_t ia, A vb, int64_t ib, bool largest) {
  bool na = d_isnan(va), nb = d_isnan(vb);
  if (na != nb) return largest ? na : nb;
  if (!na && va != vb) return largest ? va > vb : va < vb;
  return ia < ib;
}

template <class T>
__global__ void topk_kernel(T* values, int64_t* indices, const T* x, int64_t outer, int64_t n, int64_t inner, int64_t k,
                            bool largest) {
  ENGINE_GRID_STRIDE(t, outer * n * inner) {
    int64_t i = t % inner, j = (t / inner) % n, o = t / (n * inner);
    const T* col = x + o * n * inner + i;
    auto v = to_acc(col[j * inner]);
    int64_t rank = 0;
    for (int64_t m = 0; m < n && rank < k; ++m)
      if (m != j && ranks_before(to_acc(col[m * inner]), m, v, j, largest)) ++rank;
    if (rank < k) {
      int64_t at = (o * k + rank) * inner + i;
      values[at] = col[j * inner];
      indices[at] = j;
    }
  }
}

template <class F>
void with_word(size_t size, F&& f) {
  switch (size) {
    case 1: f(uint8_t{}); break;
    case 2: f(uint16_t{}); break;
    case 4: f(uint32_t{}); break;
    case 8: f(uint64_t{}); break;
    default: ENGINE_THROW("concat: no CUDA kernel for elements of " << size << " bytes");
  }
}

}  // namespace

template <class T>
void gather_fwd_cuda(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t n_x, int64_t n_idx, int64_t inner,
                     CudaIndexError* err, cudaStream_t stream) {
  int64_t n = outer * n_idx * inner;
  if (n == 0) return;
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, gather_kernel<T>)(y, x, idx, outer, n_x, n_idx, inner, err);
  ENGINE_CUDA_LAUNCH_CHECK("gather_kernel");
}

template <class T>
void scatter_add_fwd_cuda(T* y, const T* base, const int64_t* idx, const T* src, int64_t outer, int64_t n_y,
                          int64_t n_idx, int64_t inner, CudaIndexError* err, cudaStream_t stream) {
  if (y != base && outer * n_y * inner > 0)
    ENGINE_CUDA_CHECK(
        cudaMemcpyAsync(y, base, size_t(outer * n_y * inner) * sizeof(T), cudaMemcpyDeviceToDevice, stream));
  int64_t n = outer * n_idx * inner;
  if (n == 0) return;
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, scatter_add_kernel<T>)(y, idx, src, outer, n_y, n_idx, inner, err);
  ENGINE_CUDA_LAUNCH_CHECK("scatter_add_kernel");
}

template <class T>
void index_select_fwd_cuda(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t n_x, int64_t n_idx,
                           int64_t inner, CudaIndexError* err, cudaStream_t stream) {
  int64_t n = outer * n_idx * inner;
  if (n == 0) return;
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, index_select_kernel<T>)(y, x, idx, outer, n_x, n_idx, inner, err);
  ENGINE_CUDA_LAUNCH_CHECK("index_select_kernel");
}

template <class T>
void index_add_fwd_cuda(T* y, const T* base, const int64_t* idx, const T* src, int64_t outer, int64_t n_y,
                        int64_t n_idx, int64_t inner, CudaIndexError* err, cudaStream_t stream) {
  if (y != base && outer * n_y * inner > 0)
    ENGINE_CUDA_CHECK(
        cudaMemcpyAsync(y, base, size_t(outer * n_y * inner) * sizeof(T), cudaMemcpyDeviceToDevice, stream));
  int64_t n = outer * n_idx * inner;
  if (n == 0) return;
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, index_add_kernel<T>)(y, idx, src, outer, n_y, n_idx, inner, err);
  ENGINE_CUDA_LAUNCH_CHECK("index_add_kernel");
}

void concat_fwd_cuda(void* y, const void* const* xs, const int64_t* sizes, int64_t count, int64_t outer, int64_t inner,
                     size_t elem_size, cudaStream_t stream) {
  int64_t total = 0;
  for (int64_t t = 0; t < count; ++t) total += sizes[t];
  if (outer == 0 || inner == 0 || total == 0) return;
  with_word(elem_size, [&](auto w) {
    using W = decltype(w);
    int64_t at = 0;
    for (int64_t t = 0; t < count; ++t) {
      int64_t piece = sizes[t] * inner;
      if (piece > 0) {
        ENGINE_LAUNCH(grid_for(outer * piece), kBlock, 0, stream, concat_piece_kernel<W>)
        (static_cast<W*>(y), static_cast<const W*>(xs[t]), outer, piece, total * inner, at * inner);
        ENGINE_CUDA_LAUNCH_CHECK("concat_piece_kernel");
      }
      at += sizes[t];
    }
  });
}

template <class T>
void dropout_fwd_cuda(T* y, uint8_t* mask, const T* x, int64_t n, double p, uint64_t seed, uint64_t offset,
                      cudaStream_t stream) {
  if (n == 0) return;
  // The scale of dropout_fwd_cpu: 1 / (1 - p) rounded once to the element type's arithmetic.
  acc_t<T> scale = p < 1.0 ? acc_t<T>(1.0 / (1.0 - p)) : acc_t<T>(0);
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, dropout_kernel<T>)(y, mask, x, n, p, seed, offset, scale);
  ENGINE_CUDA_LAUNCH_CHECK("dropout_kernel");
}

template <class T>
void topk_fwd_cuda(T* values, int64_t* indices, const T* x, int64_t outer, int64_t n, int64_t inner, int64_t k,
                   bool largest, cudaStream_t stream) {
  int64_t total = outer * n * inner;
  if (total == 0 || k == 0) return;
  ENGINE_LAUNCH(grid_for(total), kBlock, 0, stream, topk_kernel<T>)(values, indices, x, outer, n, inner, k, largest);
  ENGINE_CUDA_LAUNCH_CHECK("topk_kernel");
}

#define INSTANTIATE_ANY(T)                                                                                            \
  template void gather_fwd_cuda<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t, int64_t, CudaIndexError*, \
                                   cudaStream_t);                                                                     \
  template void index_select_fwd_cuda<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t, int64_t,            \
                                         CudaIndexError*, cudaStream_t);                                              \
  template void dropout_fwd_cuda<T>(T*, uint8_t*, const T*, int64_t, double, uint64_t, uint64_t, cudaStream_t);       \
  template void topk_fwd_cuda<T>(T*, int64_t*, const T*, int64_t, int64_t, int64_t, int64_t, bool, cudaStream_t);
#define INSTANTIATE_ATOMIC(T)                                                                                       \
  template void scatter_add_fwd_cuda<T>(T*, const T*, const int64_t*, const T*, int64_t, int64_t, int64_t, int64_t, \
                                        CudaIndexError*, cudaStream_t);                                             \
  template void index_add_fwd_cuda<T>(T*, const T*, const int64_t*, const T*, int64_t, int64_t, int64_t, int64_t,   \
                                      CudaIndexError*, cudaStream_t);
INSTANTIATE_ANY(float)
INSTANTIATE_ANY(double)
INSTANTIATE_ANY(bf16_t)
INSTANTIATE_ANY(f16_t)
INSTANTIATE_ATOMIC(float)
INSTANTIATE_ATOMIC(double)
#undef INSTANTIATE_ANY
#undef INSTANTIATE_ATOMIC

}  // namespace engine::kernels
