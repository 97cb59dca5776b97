#pragma once
// CPU reference kernels: indexing (gather, scatter-add, index-select, index-add),
// concatenation, dropout and top-k. Tensors are contiguous and viewed as
// [outer, n, inner] around the indexed axis; indices are i64. Index kernels check
// every index against [0, n) before touching memory and throw engine::Error naming
// the op, the bad value and the valid range.
#include <cstddef>
#include <cstdint>

namespace engine::kernels {

// y [outer, n_idx, inner] = x [outer, n_x, inner] at idx [outer, n_idx, inner] along the middle axis.
template <class T>
void gather_fwd_cpu(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t n_x, int64_t n_idx, int64_t inner);
// y [outer, n_y, inner] = base; y[o, idx[o, j, i], i] += src[o, j, i]. y may alias base.
template <class T>
void scatter_add_fwd_cpu(T* y, const T* base, const int64_t* idx, const T* src, int64_t outer, int64_t n_y,
                         int64_t n_idx, int64_t inner);
// y [outer, n_idx, inner] = x [outer, n_x, inner] at rows idx [n_idx].
template <class T>
void index_select_fwd_cpu(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t n_x, int64_t n_idx,
                          int64_t inner);
// y [outer, n_y, inner] = base; y[o, idx[j], i] += src[o, j, i]. y may alias base.
template <class T>
void index_add_fwd_cpu(T* y, const T* base, const int64_t* idx, const T* src, int64_t outer, int64_t n_y, int64_t n_idx,
                       int64_t inner);

// y [outer, sum(sizes), inner] = the xs[t] [outer, sizes[t], inner] side by side. Works
// on raw bytes, so any dtype of elem_size bytes.
void concat_fwd_cpu(void* y, const void* const* xs, const int64_t* sizes, int64_t count, int64_t outer, int64_t inner,
                    size_t elem_size);

// mask[i] = double(philox_uniform(seed, offset + i)) >= p, compared in double;
// y[i] = x[i] * mask[i] / (1 - p) (y = 0 where p == 1).
template <class T>
void dropout_fwd_cpu(T* y, uint8_t* mask, const T* x, int64_t n, double p, uint64_t seed, uint64_t offset);

// The k largest (or smallest) entries along the middle axis of x [outer, n, inner],
// in rank order: values and indices [outer, k, inner]. Equal values rank by lower
// index first; NaN ranks above every number (last when !largest).
template <class T>
void topk_fwd_cpu(T* values, int64_t* indices, const T* x, int64_t outer, int64_t n, int64_t inner, int64_t k,
                  bool largest);

}  // namespace engine::kernels
