#pragma once
// Shared pieces of the CUDA kernels: checked calls, launch geometry, storage-type
// conversions (bf16/f16 computed in f32, f64 in f64) and block reductions.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "base/dtype.h"
#include "base/params.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.cuh"

namespace engine::kernels {

constexpr int kBlock = 256;
// Grid-stride loops make any grid correct; the cap only bounds the launch size.
constexpr int64_t kMaxGrid = 65535LL * 32;

inline unsigned grid_for(int64_t n, int block = kBlock) {
  int64_t g = (n + block - 1) / block;
  if (g < 1) g = 1;
  return unsigned(g < kMaxGrid ? g : kMaxGrid);
}

#define ENGINE_GRID_STRIDE(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(blockDim.x) * gridDim.x)

// Arithmetic type of a storage type: f64 stays f64, every other float type computes in f32.
template <class T>
struct AccOf {
  using type = float;
};
template <>
struct AccOf<double> {
  using type = double;
};
template <class T>
using acc_t = typename AccOf<T>::type;

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(bf16_t v) { return __uint_as_float(uint32_t(v.bits) << 16); }
__device__ __forceinline__ float to_acc(f16_t v) {
  __half_raw r;
  r.x = v.bits;
  return __half2float(__half(r));
}

template <class T>
__device__ __forceinline__ T from_acc(acc_t<T> v);
template <>
__device__ __forceinline__ float from_acc<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ double from_acc<double>(double v) {
  return v;
}
// Round to nearest even, NaN kept NaN: the same bits as engine::float_to_bf16 on the host.
template <>
__device__ __forceinline__ bf16_t from_acc<bf16_t>(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16_t{uint16_t((u >> 16) | 0x40u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16_t{uint16_t(u >> 16)};
}
template <>
__device__ __forceinline__ f16_t from_acc<f16_t>(float f) {
  __half_raw r = __float2half_rn(f);
  return f16_t{r.x};
}

// Offset of logical element i in a strided layout (row-major over its shape).
__device__ __forceinline__ int64_t layout_offset(const StridedLayout& l, int64_t i) {
  if (l.contiguous) return i;
  int64_t off = 0;
  for (int d = l.ndim - 1; d >= 0; --d) {
    int64_t s = l.shape[d];
    off += (i % s) * l.strides[d];
    i /= s;
  }
  return off;
}

// Math on the accumulation types, spelled out so that f32 never goes through f64.
__device__ __forceinline__ float d_exp(float x) { return expf(x); }
__device__ __forceinline__ double d_exp(double x) { return exp(x); }
__device__ __forceinline__ float d_log(float x) { return logf(x); }
__device__ __forceinline__ double d_log(double x) { return log(x); }
__device__ __forceinline__ float d_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double d_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float d_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double d_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float d_erf(float x) { return erff(x); }
__device__ __forceinline__ double d_erf(double x) { return erf(x); }
__device__ __forceinline__ float d_pow(float a, float b) { return powf(a, b); }
__device__ __forceinline__ double d_pow(double a, double b) { return pow(a, b); }
__device__ __forceinline__ bool d_isnan(float x) { return isnan(x); }
__device__ __forceinline__ bool d_isnan(double x) { return isnan(x); }

template <class A>
__device__ __forceinline__ A d_inf();
template <>
__device__ __forceinline__ float d_inf<float>() {
  return __int_as_float(0x7f800000);
}
template <>
__device__ __forceinline__ double d_inf<double>() {
  return __longlong_as_double(0x7ff0000000000000LL);
}

// Records a bad index for the host (see CudaIndexError). Plain stores, not atomics:
// the record lives in mapped host memory, and any one of several racing reports is
// a true one (the bound is the same for every thread of a kernel).
__device__ __forceinline__ void report_bad_index(CudaIndexError* err, int64_t value, int64_t bound) {
  err->value = value;
  err->bound = bound;
  err->flag = 1;
}

struct SumOp {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return a + b;
  }
};
// NaN wins, as in the CPU reference.
struct MaxOp {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return (d_isnan(a) || a >= b) ? a : b;
  }
};

// fmax ignores NaN, as std::fmax in the CPU references (softmax); the NaN then poisons the sum.
struct FmaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
  __device__ __forceinline__ double operator()(double a, double b) const { return fmax(a, b); }
};

template <class A, class Op>
__device__ __forceinline__ A warp_reduce(A v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Reduction over a 1-D block whose size is a multiple of 32; every thread gets the
// result. Safe to call several times in a row.
template <class A, class Op>
__device__ A block_reduce(A v, Op op, A identity) {
  ENGINE_SHARED(A, smem, [32]);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_reduce(v, op);
  __syncthreads();
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  int nwarps = int(blockDim.x >> 5);
  if (warp == 0) {
    v = lane < nwarps ? smem[lane] : identity;
    v = warp_reduce(v, op);
    if (lane == 0) smem[0] = v;
  }
  __syncthreads();
  return smem[0];
}

// Row reductions (reduce.cu, softmax.cu): rows up to kWarpRowMax long get one warp
// each, longer ones a block of kRowBlock threads; rows are grid-strided.
constexpr int64_t kWarpRowMax = 1024;
constexpr int kRowBlock = 512;

template <bool kWarp, class A, class Op>
__device__ __forceinline__ A group_reduce(A v, Op op, A identity) {
  if constexpr (kWarp) {
    return warp_reduce(v, op);
  } else {
    return block_reduce(v, op, identity);
  }
}

// Lane, width, first row and row step of a warp-per-row or block-per-row launch.
template <bool kWarp>
struct RowGroup {
  int lane, width;
  int64_t first, step;
  __device__ RowGroup() {
    lane = kWarp ? int(threadIdx.x & 31) : int(threadIdx.x);
    width = kWarp ? 32 : int(blockDim.x);
    int64_t per_block = kWarp ? blockDim.x / 32 : 1;
    first = int64_t(blockIdx.x) * per_block + (kWarp ? threadIdx.x / 32 : 0);
    step = int64_t(gridDim.x) * per_block;
  }
};

}  // namespace engine::kernels
