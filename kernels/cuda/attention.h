#pragma once
// The transformer's attention on CUDA (the twins of kernels/cpu/attention.h, same
// semantics): the masked softmax, and scaled dot-product attention as fused
// flash-attention style kernels. Instantiated for float, double, bf16_t and f16_t (bf16
// and f16 computed in f32); lse and the scratch are A = float, or double for double.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

template <class T>
void masked_softmax_fwd_cuda(T* y, const T* x, const uint8_t* mask, const StridedLayout& ml, int64_t rows, int64_t n,
                             cudaStream_t stream);

// The largest head dimension the CUDA kernels take. A head dimension of 32, 64 or 128
// runs its own instantiation; any other D up to 128 runs the next larger one with the
// rows padded by zeros.
constexpr int64_t kAttentionMaxHeadDim = 128;

// q, k, v, o contiguous [B, H, L, D]; key_mask u8 [B, Lk] or null; lse [B, H, Lq].
template <class T, class A>
void attention_fwd_cuda(T* o, A* lse, const T* q, const T* k, const T* v, const uint8_t* key_mask,
                        const AttentionParams& p, cudaStream_t stream);
// Bytes of device scratch the backward needs (delta = rowsum(go * o)).
size_t attention_bwd_cuda_scratch_bytes(const AttentionParams& p, size_t acc_size);
template <class T, class A>
void attention_bwd_cuda(T* gq, T* gk, T* gv, const T* go, const T* q, const T* k, const T* v, const T* o, const A* lse,
                        const uint8_t* key_mask, const AttentionParams& p, void* scratch, cudaStream_t stream);

}  // namespace engine::kernels
