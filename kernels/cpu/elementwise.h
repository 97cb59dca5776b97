#pragma once
// CPU reference kernels: elementwise ops, copies, fills and random fills.
#include <cstdint>

#include "base/dtype.h"
#include "base/params.h"

namespace engine::kernels {

// y (contiguous, n elements) = op(a, b), a and b strided/broadcast over y's shape.
template <class T>
void binary_fwd_cpu(BinaryOp op, T* y, const T* a, const StridedLayout& la, const T* b, const StridedLayout& lb,
                    int64_t n);
// The same on n contiguous bf16 elements (bits) of a, b and y: computed in f32 on the
// widened values and rounded once (to nearest even), as the f32 kernel would on widened
// copies, in cache-sized blocks.
void binary_bf16_dense_cpu(BinaryOp op, uint16_t* y, const uint16_t* a, const uint16_t* b, int64_t n);
template <class T>
void compare_fwd_cpu(CompareOp op, uint8_t* y, const T* a, const StridedLayout& la, const T* b, const StridedLayout& lb,
                     int64_t n);
template <class T>
void where_fwd_cpu(T* y, const uint8_t* c, const StridedLayout& lc, const T* a, const StridedLayout& la, const T* b,
                   const StridedLayout& lb, int64_t n);
// alpha, beta: clamp bounds.
template <class T>
void unary_fwd_cpu(UnaryOp op, double alpha, double beta, T* y, const T* x, const StridedLayout& lx, int64_t n);
template <class T>
void activation_bwd_cpu(ActivationKind kind, T* gx, const T* gy, const T* x_or_y, int64_t n);
// The two above on n contiguous bf16 elements (bits) of every operand, computed in f32 on
// cache-sized blocks widened on the fly and rounded once: the f32 kernels' values, rounded.
void unary_bf16_dense_cpu(UnaryOp op, double alpha, double beta, uint16_t* y, const uint16_t* x, int64_t n);
void activation_bwd_bf16_cpu(ActivationKind kind, uint16_t* gx, const uint16_t* gy, const uint16_t* x_or_y, int64_t n);

// dst (strided) = src (strided) converted between any two dtypes.
void copy_cpu(void* dst, DType dst_dtype, const StridedLayout& ld, const void* src, DType src_dtype,
              const StridedLayout& ls, int64_t n);
void fill_cpu(void* dst, DType dtype, const StridedLayout& ld, double value, int64_t n);
// Philox-based: y[i] from counter offset + i.
void rng_uniform_cpu(void* y, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double lo, double hi);
void rng_normal_cpu(void* y, DType dtype, int64_t n, uint64_t seed, uint64_t offset, double mean, double stddev);

}  // namespace engine::kernels
