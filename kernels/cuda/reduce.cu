#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/reduce.h"

namespace engine::kernels {
namespace {

// kWarp: one warp per row; otherwise one block per row. Rows are grid-strided.
template <class T, bool kWarp>
__global__ void reduce_rows_kernel(ReduceOp op, T* y, const T* x, int64_t outer, int64_t inner, int64_t correction) {
  using A = acc_t<T>;
  const RowGroup<kWarp> g;
  const int lane = g.lane, width = g.width;
  for (int64_t r = g.first; r < outer; r += g.step) {
    const T* row = x + r * inner;
    A acc;
    if (op == ReduceOp::Max) {
      acc = -d_inf<A>();
      for (int64_t i = lane; i < inner; i += width) acc = MaxOp()(acc, to_acc(row[i]));
      acc = group_reduce<kWarp>(acc, MaxOp(), -d_inf<A>());
    } else {
      A s = A(0);
      for (int64_t i = lane; i < inner; i += width) s += to_acc(row[i]);
      acc = group_reduce<kWarp>(s, SumOp(), A(0));
      if (op == ReduceOp::Mean) acc /= A(inner);
      if (op == ReduceOp::Var) {
        A m = acc / A(inner), s2 = A(0);
        for (int64_t i = lane; i < inner; i += width) {
          A d = to_acc(row[i]) - m;
          s2 += d * d;
        }
        acc = group_reduce<kWarp>(s2, SumOp(), A(0)) / A(inner - correction);
      }
    }
    if (lane == 0) y[r] = from_acc<T>(acc);
  }
}

// a beats b: NaN above every number, then the larger value, then the lower index;
// index -1 marks an empty slot.
template <class A>
__device__ __forceinline__ bool argmax_beats(A va, int64_t ia, A vb, int64_t ib) {
  if (ib < 0) return ia >= 0;
  if (ia < 0) return false;
  bool na = d_isnan(va), nb = d_isnan(vb);
  if (na != nb) return na;
  if (!na && va != vb) return va > vb;
  return ia < ib;
}

template <class T>
__global__ void argmax_rows_kernel(int64_t* y, const T* x, int64_t outer, int64_t inner) {
  using A = acc_t<T>;
  ENGINE_SHARED(A, sv, [256]);
  ENGINE_SHARED(int64_t, si, [256]);
  for (int64_t r = blockIdx.x; r < outer; r += gridDim.x) {
    const T* row = x + r * inner;
    A best = A(0);
    int64_t bi = -1;
    for (int64_t i = threadIdx.x; i < inner; i += blockDim.x) {
      A v = to_acc(row[i]);
      if (argmax_beats(v, i, best, bi)) {
        best = v;
        bi = i;
      }
    }
    __syncthreads();  // the previous row's result has been read
    sv[threadIdx.x] = best;
    si[threadIdx.x] = bi;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s && argmax_beats(sv[threadIdx.x + s], si[threadIdx.x + s], sv[threadIdx.x], si[threadIdx.x])) {
        sv[threadIdx.x] = sv[threadIdx.x + s];
        si[threadIdx.x] = si[threadIdx.x + s];
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) y[r] = si[0];
  }
}

}  // namespace

template <class T>
void reduce_rows_cuda(ReduceOp op, T* y, const T* x, int64_t outer, int64_t inner, int64_t correction,
                      cudaStream_t stream) {
  if (outer == 0) return;
  if (inner <= kWarpRowMax) {
    constexpr int kRowsPerBlock = kBlock / 32;
    ENGINE_LAUNCH(grid_for(outer, kRowsPerBlock), kBlock, 0, stream, reduce_rows_kernel<T, true>)
    (op, y, x, outer, inner, correction);
    ENGINE_CUDA_LAUNCH_CHECK("reduce_rows_kernel<warp>");
  } else {
    ENGINE_LAUNCH(grid_for(outer, 1), kRowBlock, 0, stream, reduce_rows_kernel<T, false>)
    (op, y, x, outer, inner, correction);
    ENGINE_CUDA_LAUNCH_CHECK("reduce_rows_kernel<block>");
  }
}

template <class T>
void argmax_rows_cuda(int64_t* y, const T* x, int64_t outer, int64_t inner, cudaStream_t stream) {
  if (outer == 0) return;
  int threads = inner <= 32 ? 32 : (inner <= 128 ? 128 : 256);  // a power of two, at most 256
  ENGINE_LAUNCH(grid_for(outer, 1), threads, 0, stream, argmax_rows_kernel<T>)(y, x, outer, inner);
  ENGINE_CUDA_LAUNCH_CHECK("argmax_rows_kernel");
}

#define INSTANTIATE(T)                                                                                \
  template void reduce_rows_cuda<T>(ReduceOp, T*, const T*, int64_t, int64_t, int64_t, cudaStream_t); \
  template void argmax_rows_cuda<T>(int64_t*, const T*, int64_t, int64_t, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
