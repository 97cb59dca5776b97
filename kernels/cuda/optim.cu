#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/optim.h"

namespace engine::kernels {
namespace {

template <class T> __device__ __forceinline__ double to_f64(T v) { return double(to_acc(v)); }
template <class T> __device__ __forceinline__ T from_f64(double v) { return from_acc<T>(acc_t<T>(v)); }

template <class T>
__global__ void sgd_kernel(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening,
                           double weight_decay, bool nesterov, bool first_step) {
  ENGINE_GRID_STRIDE(i, n) {
    double pi = to_f64(p[i]);
    double d = to_f64(g[i]) + weight_decay * pi;
    if (momentum != 0) {
      double b = first_step ? d : momentum * to_f64(buf[i]) + (1 - dampening) * d;
      buf[i] = from_f64<T>(b);
      d = nesterov ? d + momentum * b : b;
    }
    p[i] = from_f64<T>(pi - lr * d);
  }
}

template <class T>
__global__ void adamw_kernel(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2,
                             double eps, double weight_decay, double bc1, double bc2) {
  ENGINE_GRID_STRIDE(i, n) {
    double gi = to_f64(g[i]);
    double mi = beta1 * to_f64(m[i]) + (1 - beta1) * gi;
    double vi = beta2 * to_f64(v[i]) + (1 - beta2) * gi * gi;
    m[i] = from_f64<T>(mi);
    v[i] = from_f64<T>(vi);
    double pi = to_f64(p[i]) * (1 - lr * weight_decay);
    p[i] = from_f64<T>(pi - lr * (mi / bc1) / (sqrt(vi / bc2) + eps));
  }
}

}  // namespace

template <class T>
void sgd_step_cuda(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening,
                   double weight_decay, bool nesterov, bool first_step, cudaStream_t stream) {
  if (n == 0) return;
  sgd_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(p, g, buf, n, lr, momentum, dampening, weight_decay, nesterov,
                                                    first_step);
  ENGINE_CUDA_LAUNCH_CHECK("sgd_kernel");
}

template <class T>
void adamw_step_cuda(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps,
                     double weight_decay, int64_t step, cudaStream_t stream) {
  if (n == 0) return;
  // Bias corrections on the host, with the same std::pow as the CPU reference.
  double bc1 = 1 - std::pow(beta1, double(step)), bc2 = 1 - std::pow(beta2, double(step));
  adamw_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, bc1, bc2);
  ENGINE_CUDA_LAUNCH_CHECK("adamw_kernel");
}

#define INSTANTIATE(T)                                                                                          \
  template void sgd_step_cuda<T>(T*, const T*, T*, int64_t, double, double, double, double, bool, bool,         \
                                 cudaStream_t);                                                                \
  template void adamw_step_cuda<T>(T*, const T*, T*, T*, int64_t, double, double, double, double, double,       \
                                   int64_t, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
