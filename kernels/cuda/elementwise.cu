#include "kernels/cuda/common.cuh"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/launch.cuh"

namespace engine::kernels {
namespace {

template <class A>
__device__ __forceinline__ A apply_binary(BinaryOp op, A a, A b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Pow: return d_pow(a, b);
    case BinaryOp::Maximum: return a >= b ? a : b;
  }
  return A(0);
}

template <class A>
__device__ __forceinline__ A apply_unary(UnaryOp op, A x, A alpha, A beta) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return d_exp(x);
    case UnaryOp::Log: return d_log(x);
    case UnaryOp::Sqrt: return d_sqrt(x);
    case UnaryOp::Rsqrt: return A(1) / d_sqrt(x);
    case UnaryOp::Relu: return x > A(0) ? x : A(0);
    case UnaryOp::Gelu: return A(0.5) * x * (A(1) + d_erf(x * A(0.70710678118654752440)));
    case UnaryOp::Sigmoid: return A(1) / (A(1) + d_exp(-x));
    case UnaryOp::Tanh: return d_tanh(x);
    case UnaryOp::Clamp: return x < alpha ? alpha : (x > beta ? beta : x);
  }
  return A(0);
}

template <class T>
__global__ void binary_kernel(BinaryOp op, T* y, const T* a, StridedLayout la, const T* b, StridedLayout lb,
                              int64_t n) {
  ENGINE_GRID_STRIDE(i, n) {
    y[i] = from_acc<T>(apply_binary(op, to_acc(a[layout_offset(la, i)]), to_acc(b[layout_offset(lb, i)])));
  }
}

template <class T>
__global__ void compare_kernel(CompareOp op, uint8_t* y, const T* a, StridedLayout la, const T* b, StridedLayout lb,
                               int64_t n) {
  ENGINE_GRID_STRIDE(i, n) {
    auto x = to_acc(a[layout_offset(la, i)]), z = to_acc(b[layout_offset(lb, i)]);
    bool r = false;
    switch (op) {
      case CompareOp::Eq: r = x == z; break;
      case CompareOp::Ne: r = x != z; break;
      case CompareOp::Lt: r = x < z; break;
      case CompareOp::Le: r = x <= z; break;
      case CompareOp::Gt: r = x > z; break;
      case CompareOp::Ge: r = x >= z; break;
    }
    y[i] = r ? 1 : 0;
  }
}

template <class T>
__global__ void where_kernel(T* y, const uint8_t* c, StridedLayout lc, const T* a, StridedLayout la, const T* b,
                             StridedLayout lb, int64_t n) {
  ENGINE_GRID_STRIDE(i, n) { y[i] = c[layout_offset(lc, i)] ? a[layout_offset(la, i)] : b[layout_offset(lb, i)]; }
}

template <class T>
__global__ void unary_kernel(UnaryOp op, acc_t<T> alpha, acc_t<T> beta, T* y, const T* x, StridedLayout lx, int64_t n) {
  ENGINE_GRID_STRIDE(i, n) { y[i] = from_acc<T>(apply_unary(op, to_acc(x[layout_offset(lx, i)]), alpha, beta)); }
}

template <class T>
__global__ void activation_bwd_kernel(ActivationKind kind, T* gx, const T* gy, const T* v, int64_t n) {
  using A = acc_t<T>;
  ENGINE_GRID_STRIDE(i, n) {
    A x = to_acc(v[i]), d = A(0);
    switch (kind) {
      case ActivationKind::Relu: d = x > A(0) ? A(1) : A(0); break;
      case ActivationKind::Gelu: {
        A cdf = A(0.5) * (A(1) + d_erf(x * A(0.70710678118654752440)));
        A pdf = d_exp(A(-0.5) * x * x) * A(0.39894228040143267794);
        d = cdf + x * pdf;
        break;
      }
      case ActivationKind::Sigmoid: d = x * (A(1) - x); break;
      case ActivationKind::Tanh: d = A(1) - x * x; break;
    }
    gx[i] = from_acc<T>(to_acc(gy[i]) * d);
  }
}

}  // namespace

template <class T>
void binary_fwd_cuda(BinaryOp op, T* y, const T* a, const StridedLayout& la, const T* b, const StridedLayout& lb,
                     int64_t n, cudaStream_t stream) {
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, binary_kernel<T>)(op, y, a, la, b, lb, n);
  ENGINE_CUDA_LAUNCH_CHECK("binary_kernel");
}

template <class T>
void compare_fwd_cuda(CompareOp op, uint8_t* y, const T* a, const StridedLayout& la, const T* b,
                      const StridedLayout& lb, int64_t n, cudaStream_t stream) {
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, compare_kernel<T>)(op, y, a, la, b, lb, n);
  ENGINE_CUDA_LAUNCH_CHECK("compare_kernel");
}

template <class T>
void where_fwd_cuda(T* y, const uint8_t* c, const StridedLayout& lc, const T* a, const StridedLayout& la, const T* b,
                    const StridedLayout& lb, int64_t n, cudaStream_t stream) {
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, where_kernel<T>)(y, c, lc, a, la, b, lb, n);
  ENGINE_CUDA_LAUNCH_CHECK("where_kernel");
}

template <class T>
void unary_fwd_cuda(UnaryOp op, double alpha, double beta, T* y, const T* x, const StridedLayout& lx, int64_t n,
                    cudaStream_t stream) {
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, unary_kernel<T>)(op, acc_t<T>(alpha), acc_t<T>(beta), y, x, lx, n);
  ENGINE_CUDA_LAUNCH_CHECK("unary_kernel");
}

template <class T>
void activation_bwd_cuda(ActivationKind kind, T* gx, const T* gy, const T* v, int64_t n, cudaStream_t stream) {
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, activation_bwd_kernel<T>)(kind, gx, gy, v, n);
  ENGINE_CUDA_LAUNCH_CHECK("activation_bwd_kernel");
}

#define INSTANTIATE(T)                                                                                                 \
  template void binary_fwd_cuda<T>(BinaryOp, T*, const T*, const StridedLayout&, const T*, const StridedLayout&,       \
                                   int64_t, cudaStream_t);                                                             \
  template void compare_fwd_cuda<T>(CompareOp, uint8_t*, const T*, const StridedLayout&, const T*,                     \
                                    const StridedLayout&, int64_t, cudaStream_t);                                      \
  template void where_fwd_cuda<T>(T*, const uint8_t*, const StridedLayout&, const T*, const StridedLayout&, const T*,  \
                                  const StridedLayout&, int64_t, cudaStream_t);                                        \
  template void unary_fwd_cuda<T>(UnaryOp, double, double, T*, const T*, const StridedLayout&, int64_t, cudaStream_t); \
  template void activation_bwd_cuda<T>(ActivationKind, T*, const T*, const T*, int64_t, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
