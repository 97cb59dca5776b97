#pragma once
// CUDA elementwise kernels, copies, fills and random fills (the twins of
// kernels/cpu/elementwise.h). Raw device pointers, launched on `stream`. Templates are
// instantiated for float, double, bf16_t and f16_t; bf16 and f16 compute in f32.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/dtype.h"
#include "base/params.h"

namespace engine::kernels {

// y (contiguous, n elements) = op(a, b), a and b strided/broadcast over y's shape.
template <class T>
void binary_fwd_cuda(BinaryOp op, T* y, const T* a, const StridedLayout& la, const T* b, const StridedLayout& lb,
                     int64_t n, cudaStream_t stream);
template <class T>
void compare_fwd_cuda(CompareOp op, uint8_t* y, const T* a, const StridedLayout& la, const T* b,
                      const StridedLayout& lb, int64_t n, cudaStream_t stream);
template <class T>
void where_fwd_cuda(T* y, const uint8_t* c, const StridedLayout& lc, const T* a, const StridedLayout& la, const T* b,
                    const StridedLayout& lb, int64_t n, cudaStream_t stream);
// alpha, beta: clamp bounds.
template <class T>
void unary_fwd_cuda(UnaryOp op, double alpha, double beta, T* y, const T* x, const StridedLayout& lx, int64_t n,
                    cudaStream_t stream);
// gx = gy * f'(.), reading x (relu, gelu) or y (sigmoid, tanh); all contiguous.
template <class T>
void activation_bwd_cuda(ActivationKind kind, T* gx, const T* gy, const T* x_or_y, int64_t n, cudaStream_t stream);

// dst (strided) = src (strided) converted between any two dtypes, as copy_cpu converts.
void copy_cuda(void* dst, DType dst_dtype, const StridedLayout& ld, const void* src, DType src_dtype,
               const StridedLayout& ls, int64_t n, cudaStream_t stream);
void fill_cuda(void* dst, DType dtype, const StridedLayout& ld, double value, int64_t n, cudaStream_t stream);
// Philox: element i from counter offset + i, the same values as the CPU kernels
// (uniform bit for bit; normal within a few ulp of the CPU's logf/cosf).
void rng_uniform_cuda(void* y, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi,
                      cudaStream_t stream);
void rng_normal_cuda(void* y, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev,
                     cudaStream_t stream);

}  // namespace engine::kernels
