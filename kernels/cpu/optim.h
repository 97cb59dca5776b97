#pragma once
// Fused optimizer updates (CPU reference), in place over n contiguous elements.
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

template <class T>
void sgd_step_cpu(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening,
                  double weight_decay, bool nesterov, bool first_step);
template <class T>
void adamw_step_cpu(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps,
                    double weight_decay, int64_t step);

// Multi-tensor steps: the same updates over `count` tensors of one dtype, split into
// chunks that the threads share. Element for element the arithmetic of the per-tensor
// kernels, so the results are the same bits.
template <class T>
void sgd_step_multi_cpu(const MultiTensorRecord* records, int64_t count, const SgdHyper& h);
template <class T>
void adamw_step_multi_cpu(const MultiTensorRecord* records, int64_t count, const AdamWHyper& h);

// sum over the tensors of sum(x^2), accumulated in double: xs[i] holds ns[i] elements.
template <class T>
double sum_squares_multi_cpu(const T* const* xs, const int64_t* ns, int64_t count);

}  // namespace engine::kernels
