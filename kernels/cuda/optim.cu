#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/optim.h"

namespace engine::kernels {
namespace {

template <class T>
__device__ __forceinline__ double to_f64(T v) {
  return double(to_acc(v));
}
template <class T>
__device__ __forceinline__ T from_f64(double v) {
  return from_acc<T>(acc_t<T>(v));
}

// One element of each update, shared by the per-tensor and the multi-tensor kernels.
template <class T>
__device__ __forceinline__ void sgd_elem(T* p, const T* g, T* buf, int64_t i, double lr, double momentum,
                                         double dampening, double weight_decay, bool nesterov, bool first_step) {
  double pi = to_f64(p[i]);
  double d = to_f64(g[i]) + weight_decay * pi;
  if (momentum != 0) {
    double b = first_step ? d : momentum * to_f64(buf[i]) + (1 - dampening) * d;
    buf[i] = from_f64<T>(b);
    d = nesterov ? d + momentum * b : b;
  }
  p[i] = from_f64<T>(pi - lr * d);
}

template <class T>
__device__ __forceinline__ void adamw_elem(T* p, const T* g, T* m, T* v, int64_t i, double lr, double beta1,
                                           double beta2, double eps, double weight_decay, double bc1, double bc2) {
  double gi = to_f64(g[i]);
  double mi = beta1 * to_f64(m[i]) + (1 - beta1) * gi;
  double vi = beta2 * to_f64(v[i]) + (1 - beta2) * gi * gi;
  m[i] = from_f64<T>(mi);
  v[i] = from_f64<T>(vi);
  double pi = to_f64(p[i]) * (1 - lr * weight_decay);
  p[i] = from_f64<T>(pi - lr * (mi / bc1) / (sqrt(vi / bc2) + eps));
}

template <class T>
__global__ void sgd_kernel(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening,
                           double weight_decay, bool nesterov, bool first_step) {
  ENGINE_GRID_STRIDE(i, n) sgd_elem(p, g, buf, i, lr, momentum, dampening, weight_decay, nesterov, first_step);
}

template <class T>
__global__ void adamw_kernel(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps,
                             double weight_decay, double bc1, double bc2) {
  ENGINE_GRID_STRIDE(i, n) adamw_elem(p, g, m, v, i, lr, beta1, beta2, eps, weight_decay, bc1, bc2);
}

// Block b (grid-stride over the chunks) updates chunk b: its record is read once per block.
template <class T>
__global__ void sgd_multi_kernel(const MultiTensorRecord* records, const MultiTensorChunk* chunks, int64_t num_chunks,
                                 int64_t chunk_size, SgdHyper h) {
  for (int64_t c = blockIdx.x; c < num_chunks; c += gridDim.x) {
    const MultiTensorRecord r = records[chunks[c].tensor];
    const int64_t start = chunks[c].start, end = min(r.n, start + chunk_size);
    T* p = static_cast<T*>(r.p);
    const T* g = static_cast<const T*>(r.g);
    T* buf = static_cast<T*>(r.s1);
    for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x)
      sgd_elem(p, g, buf, i, h.lr, h.momentum, h.dampening, r.weight_decay, h.nesterov, r.first_step != 0);
  }
}

template <class T>
__global__ void adamw_multi_kernel(const MultiTensorRecord* records, const MultiTensorChunk* chunks, int64_t num_chunks,
                                   int64_t chunk_size, AdamWHyper h, double bc1, double bc2) {
  for (int64_t c = blockIdx.x; c < num_chunks; c += gridDim.x) {
    const MultiTensorRecord r = records[chunks[c].tensor];
    const int64_t start = chunks[c].start, end = min(r.n, start + chunk_size);
    T* p = static_cast<T*>(r.p);
    const T* g = static_cast<const T*>(r.g);
    T *m = static_cast<T*>(r.s1), *v = static_cast<T*>(r.s2);
    for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x)
      adamw_elem(p, g, m, v, i, h.lr, h.beta1, h.beta2, h.eps, r.weight_decay, bc1, bc2);
  }
}

template <class T>
__global__ void sum_squares_partial_kernel(double* partials, const MultiTensorRecord* records,
                                           const MultiTensorChunk* chunks, int64_t num_chunks, int64_t chunk_size) {
  for (int64_t c = blockIdx.x; c < num_chunks; c += gridDim.x) {
    const MultiTensorRecord r = records[chunks[c].tensor];
    const int64_t start = chunks[c].start, end = min(r.n, start + chunk_size);
    const T* x = static_cast<const T*>(r.p);
    double s = 0;
    for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x) {
      double v = to_f64(x[i]);
      s += v * v;
    }
    s = block_reduce(s, SumOp(), 0.0);
    if (threadIdx.x == 0) partials[c] = s;
  }
}

__global__ void sum_partials_kernel(double* out, const double* partials, int64_t n) {
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += partials[i];
  s = block_reduce(s, SumOp(), 0.0);
  if (threadIdx.x == 0) *out = s;
}

// Blocks per launch: enough to fill the device; each loops over its share of chunks.
unsigned multi_grid(int64_t num_chunks) { return unsigned(num_chunks < 65535 ? num_chunks : 65535); }

}  // namespace

template <class T>
void sgd_step_cuda(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening,
                   double weight_decay, bool nesterov, bool first_step, cudaStream_t stream) {
  if (n == 0) return;
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, sgd_kernel<T>)
  (p, g, buf, n, lr, momentum, dampening, weight_decay, nesterov, first_step);
  ENGINE_CUDA_LAUNCH_CHECK("sgd_kernel");
}

template <class T>
void adamw_step_cuda(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps,
                     double weight_decay, int64_t step, cudaStream_t stream) {
  if (n == 0) return;
  // Bias corrections on the host, with the same std::pow as the CPU reference.
  double bc1 = 1 - std::pow(beta1, double(step)), bc2 = 1 - std::pow(beta2, double(step));
  ENGINE_LAUNCH(grid_for(n), kBlock, 0, stream, adamw_kernel<T>)
  (p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, bc1, bc2);
  ENGINE_CUDA_LAUNCH_CHECK("adamw_kernel");
}

template <class T>
void sgd_step_multi_cuda(const MultiTensorRecord* records, const MultiTensorChunk* chunks, int64_t num_chunks,
                         int64_t chunk_size, const SgdHyper& h, cudaStream_t stream) {
  if (num_chunks == 0) return;
  ENGINE_LAUNCH(multi_grid(num_chunks), kBlock, 0, stream, sgd_multi_kernel<T>)
  (records, chunks, num_chunks, chunk_size, h);
  ENGINE_CUDA_LAUNCH_CHECK("sgd_multi_kernel");
}

template <class T>
void adamw_step_multi_cuda(const MultiTensorRecord* records, const MultiTensorChunk* chunks, int64_t num_chunks,
                           int64_t chunk_size, const AdamWHyper& h, cudaStream_t stream) {
  if (num_chunks == 0) return;
  double bc1 = 1 - std::pow(h.beta1, double(h.step)), bc2 = 1 - std::pow(h.beta2, double(h.step));
  ENGINE_LAUNCH(multi_grid(num_chunks), kBlock, 0, stream, adamw_multi_kernel<T>)
  (records, chunks, num_chunks, chunk_size, h, bc1, bc2);
  ENGINE_CUDA_LAUNCH_CHECK("adamw_multi_kernel");
}

template <class T>
void sum_squares_multi_cuda(double* out, double* partials, const MultiTensorRecord* records,
                            const MultiTensorChunk* chunks, int64_t num_chunks, int64_t chunk_size,
                            cudaStream_t stream) {
  if (num_chunks > 0) {
    ENGINE_LAUNCH(multi_grid(num_chunks), kBlock, 0, stream, sum_squares_partial_kernel<T>)
    (partials, records, chunks, num_chunks, chunk_size);
    ENGINE_CUDA_LAUNCH_CHECK("sum_squares_partial_kernel");
  }
  ENGINE_LAUNCH(1, 1024, 0, stream, sum_partials_kernel)(out, partials, num_chunks);
  ENGINE_CUDA_LAUNCH_CHECK("sum_partials_kernel");
}

#define INSTANTIATE(T)                                                                                                 \
  template void sgd_step_cuda<T>(T*, const T*, T*, int64_t, double, double, double, double, bool, bool, cudaStream_t); \
  template void adamw_step_cuda<T>(T*, const T*, T*, T*, int64_t, double, double, double, double, double, int64_t,     \
                                   cudaStream_t);                                                                      \
  template void sgd_step_multi_cuda<T>(const MultiTensorRecord*, const MultiTensorChunk*, int64_t, int64_t,            \
                                       const SgdHyper&, cudaStream_t);                                                 \
  template void adamw_step_multi_cuda<T>(const MultiTensorRecord*, const MultiTensorChunk*, int64_t, int64_t,          \
                                         const AdamWHyper&, cudaStream_t);                                             \
  template void sum_squares_multi_cuda<T>(double*, double*, const MultiTensorRecord*, const MultiTensorChunk*,         \
                                          int64_t, int64_t, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
