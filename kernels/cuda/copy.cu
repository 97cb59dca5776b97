// Copies with casts, fills and Philox random fills.
#include <cstring>

#include "base/check.h"
#include "base/convert.h"
#include "base/rng.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/launch.cuh"

namespace engine::kernels {
namespace {

// Values pass through double, as in copy_cpu (to_f64 / from_f64).
__device__ __forceinline__ double load_as_double(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::f32: return double(static_cast<const float*>(p)[i]);
    case DType::f64: return static_cast<const double*>(p)[i];
    case DType::bf16: return double(to_acc(static_cast<const bf16_t*>(p)[i]));
    case DType::f16: return double(to_acc(static_cast<const f16_t*>(p)[i]));
    case DType::i32: return double(static_cast<const int32_t*>(p)[i]);
    case DType::i64: return double(static_cast<const int64_t*>(p)[i]);
    case DType::u8: return double(static_cast<const uint8_t*>(p)[i]);
  }
  return 0.0;
}

__device__ __forceinline__ void store_from_double(void* p, DType t, int64_t i, double v) {
  switch (t) {
    case DType::f32: static_cast<float*>(p)[i] = float(v); break;
    case DType::f64: static_cast<double*>(p)[i] = v; break;
    case DType::bf16: static_cast<bf16_t*>(p)[i] = from_acc<bf16_t>(float(v)); break;
    case DType::f16: static_cast<f16_t*>(p)[i] = from_acc<f16_t>(float(v)); break;
    case DType::i32: static_cast<int32_t*>(p)[i] = int32_t(v); break;
    case DType::i64: static_cast<int64_t*>(p)[i] = int64_t(v); break;
    case DType::u8: static_cast<uint8_t*>(p)[i] = uint8_t(v); break;
  }
}

__global__ void cast_kernel(void* dst, DType dt, StridedLayout ld, const void* src, DType st, StridedLayout ls,
                            int64_t n) {
  ENGINE_GRID_STRIDE(i, n) {
    store_from_double(dst, dt, layout_offset(ld, i), load_as_double(src, st, layout_offset(ls, i)));
  }
}

// Same dtype: move elements as unsigned words of the element's size.
template <class W>
__global__ void move_kernel(W* dst, StridedLayout ld, const W* src, StridedLayout ls, int64_t n) {
  ENGINE_GRID_STRIDE(i, n) { dst[layout_offset(ld, i)] = src[layout_offset(ls, i)]; }
}

template <class W>
__global__ void fill_kernel(W* dst, StridedLayout ld, W value, int64_t n) {
  ENGINE_GRID_STRIDE(i, n) { dst[layout_offset(ld, i)] = value; }
}

// v = a + b * u with explicit round-to-nearest operations: nvcc would otherwise fuse
// them into an FMA and round differently from the CPU.
__global__ void rng_kernel(void* y, DType t, int64_t n, uint64_t seed, uint64_t offset, double a, double b,
                           bool normal) {
  ENGINE_GRID_STRIDE(i, n) {
    uint64_t c = offset + uint64_t(i);
    double u = normal ? double(philox_normal(seed, c)) : double(philox_uniform(seed, c));
    store_from_double(y, t, i, __dadd_rn(a, __dmul_rn(b, u)));
  }
}

template <class F>
void with_word(size_t size, F&& f) {
  switch (size) {
    case 1: f(uint8_t{}); break;
    case 2: f(uint16_t{}); break;
    case 4: f(uint32_t{}); break;
    case 8: f(uint64_t{}); break;
    default: ENGINE_THROW("no CUDA copy for elements of " << size << " bytes");
  }
}

// The bytes of `value` converted to dtype t exactly as fill_cpu converts it.
uint64_t fill_pattern(DType t, double value) {
  uint64_t bits = 0;
  auto put = [&](auto v) { std::memcpy(&bits, &v, sizeof(v)); };
  switch (t) {
    case DType::f32: put(from_f64<float>(value)); break;
    case DType::f64: put(from_f64<double>(value)); break;
    case DType::bf16: put(from_f64<bf16_t>(value)); break;
    case DType::f16: put(from_f64<f16_t>(value)); break;
    case DType::i32: put(from_f64<int32_t>(value)); break;
    case DType::i64: put(from_f64<int64_t>(value)); break;
    case DType::u8: put(from_f64<uint8_t>(value)); break;
  }
  return bits;
}

}  // namespace

void copy_cuda(void* dst, DType dt, const StridedLayout& ld, const void* src, DType st, const StridedLayout& ls,
               int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  if (dt == st) {
    size_t es = dtype_size(dt);
    if (ld.contiguous && ls.contiguous) {
      ENGINE_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(n) * es, cudaMemcpyDeviceToDevice, stream));
      return;
    }
    with_word(es, [&](auto w) {
      using W = decltype(w);
      ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, move_kernel<W>)
      (static_cast<W*>(dst), ld, static_cast<const W*>(src), ls, n);
      ENGINE_CUDA_LAUNCH_CHECK("move_kernel");
    });
    return;
  }
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, cast_kernel)(dst, dt, ld, src, st, ls, n);
  ENGINE_CUDA_LAUNCH_CHECK("cast_kernel");
}

void fill_cuda(void* dst, DType dt, const StridedLayout& ld, double value, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  uint64_t bits = fill_pattern(dt, value);
  size_t es = dtype_size(dt);
  if (bits == 0 && ld.contiguous) {
    ENGINE_CUDA_CHECK(cudaMemsetAsync(dst, 0, size_t(n) * es, stream));
    return;
  }
  with_word(es, [&](auto w) {
    using W = decltype(w);
    W v;
    std::memcpy(&v, &bits, sizeof(W));
    ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, fill_kernel<W>)(static_cast<W*>(dst), ld, v, n);
    ENGINE_CUDA_LAUNCH_CHECK("fill_kernel");
  });
}

void rng_uniform_cuda(void* y, DType t, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi,
                      cudaStream_t stream) {
  if (n == 0) return;
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, rng_kernel)(y, t, n, seed, offset, lo, hi - lo, false);
  ENGINE_CUDA_LAUNCH_CHECK("rng_kernel");
}

void rng_normal_cuda(void* y, DType t, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev,
                     cudaStream_t stream) {
  if (n == 0) return;
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, rng_kernel)(y, t, n, seed, offset, mean, stddev, true);
  ENGINE_CUDA_LAUNCH_CHECK("rng_kernel");
}

}  // namespace engine::kernels
