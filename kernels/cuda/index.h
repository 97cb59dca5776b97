#pragma once
// CUDA twins of kernels/cpu/index.h: gather, scatter-add, index-select, index-add,
// concat, dropout and top-k over contiguous tensors viewed as [outer, n, inner].
// An index outside [0, n) is never followed: it is reported to `err` (the runtime
// throws at the next synchronisation) and its output element is NaN or left out.
// scatter_add and index_add accumulate with atomicAdd (f32, f64; the order of the
// additions is not fixed); the others take float, double, bf16_t and f16_t.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/check.h"

namespace engine::kernels {

template <class T>
void gather_fwd_cuda(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t n_x, int64_t n_idx, int64_t inner,
                     CudaIndexError* err, cudaStream_t stream);
// y may alias base.
template <class T>
void scatter_add_fwd_cuda(T* y, const T* base, const int64_t* idx, const T* src, int64_t outer, int64_t n_y,
                          int64_t n_idx, int64_t inner, CudaIndexError* err, cudaStream_t stream);
template <class T>
void index_select_fwd_cuda(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t n_x, int64_t n_idx,
                           int64_t inner, CudaIndexError* err, cudaStream_t stream);
// y may alias base.
template <class T>
void index_add_fwd_cuda(T* y, const T* base, const int64_t* idx, const T* src, int64_t outer, int64_t n_y,
                        int64_t n_idx, int64_t inner, CudaIndexError* err, cudaStream_t stream);

// y [outer, sum(sizes), inner] from xs[t] [outer, sizes[t], inner] (host array of device
// pointers); any dtype of elem_size bytes.
void concat_fwd_cuda(void* y, const void* const* xs, const int64_t* sizes, int64_t count, int64_t outer, int64_t inner,
                     size_t elem_size, cudaStream_t stream);

// The same mask as dropout_fwd_cpu: kept where double(philox_uniform(seed, offset + i)) >= p.
template <class T>
void dropout_fwd_cuda(T* y, uint8_t* mask, const T* x, int64_t n, double p, uint64_t seed, uint64_t offset,
                      cudaStream_t stream);

// values, indices [outer, k, inner]: the k largest (smallest) along the middle axis in
// rank order; ties rank the lower index first; NaN ranks above every number (last when
// !largest). Each element's rank is counted directly: O(n^2) work per column, meant
// for the small n of top-k gating and top-5 accuracy.
template <class T>
void topk_fwd_cuda(T* values, int64_t* indices, const T* x, int64_t outer, int64_t n, int64_t inner, int64_t k,
                   bool largest, cudaStream_t stream);

}  // namespace engine::kernels
