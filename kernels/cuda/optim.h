#pragma once
// Fused optimizer updates on CUDA (the twins of kernels/cpu/optim.h), in place over n
// contiguous elements, computed in f64 like the CPU reference. Instantiated for float,
// double, bf16_t and f16_t.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

// buf may be null when momentum == 0.
template <class T>
void sgd_step_cuda(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening,
                   double weight_decay, bool nesterov, bool first_step, cudaStream_t stream);
template <class T>
void adamw_step_cuda(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps,
                     double weight_decay, int64_t step, cudaStream_t stream);

// Multi-tensor steps: one launch over device arrays of records (one per tensor) and
// chunks (pieces of at most chunk_size elements of one record), one block per chunk;
// per element the arithmetic of the per-tensor kernels.
template <class T>
void sgd_step_multi_cuda(const MultiTensorRecord* records, const MultiTensorChunk* chunks, int64_t num_chunks,
                         int64_t chunk_size, const SgdHyper& h, cudaStream_t stream);
template <class T>
void adamw_step_multi_cuda(const MultiTensorRecord* records, const MultiTensorChunk* chunks, int64_t num_chunks,
                           int64_t chunk_size, const AdamWHyper& h, cudaStream_t stream);
// *out = sum over the records' p tensors of sum(x^2), in f64: one partial sum per chunk
// into partials [num_chunks], then one block adds them in chunk order (deterministic).
template <class T>
void sum_squares_multi_cuda(double* out, double* partials, const MultiTensorRecord* records,
                            const MultiTensorChunk* chunks, int64_t num_chunks, int64_t chunk_size,
                            cudaStream_t stream);

}  // namespace engine::kernels
