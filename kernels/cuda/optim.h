#pragma once
// Fused optimizer updates on CUDA (the twins of kernels/cpu/optim.h), in place over n
// contiguous elements, computed in f64 like the CPU reference. Instantiated for float,
// double, bf16_t and f16_t.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace engine::kernels {

// buf may be null when momentum == 0.
template <class T>
void sgd_step_cuda(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening,
                   double weight_decay, bool nesterov, bool first_step, cudaStream_t stream);
template <class T>
void adamw_step_cuda(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps,
                     double weight_decay, int64_t step, cudaStream_t stream);

}  // namespace engine::kernels
