#pragma once
// Fused optimizer updates (CPU reference), in place over n contiguous elements.
#include <cstdint>

namespace engine::kernels {

template <class T>
void sgd_step_cpu(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening,
                  double weight_decay, bool nesterov, bool first_step);
template <class T>
void adamw_step_cpu(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps,
                    double weight_decay, int64_t step);

}  // namespace engine::kernels
