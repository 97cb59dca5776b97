#pragma once
// CUDA twin of kernels/cpu/moe_router.h: the fused linear router in one launch (one
// warp per token, expert e on lane e, the router weight staged in shared memory) and
// its backward. E <= kMoeRouterMaxExperts.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

constexpr int64_t kMoeRouterMaxExperts = 32;

// Outputs as moe_router_fwd_cpu. Instantiated for float, double, bf16_t and f16_t
// (bf16/f16 compute in f32).
template <class T>
void moe_router_fwd_cuda(T* logits, T* probs, int64_t* top_idx, T* top_probs, T* weights, const T* x, const T* w,
                         const MoeRouterParams& p, cudaStream_t stream);

// Device scratch the backward needs, in bytes.
size_t moe_router_bwd_scratch_bytes(const MoeRouterParams& p, bool f64);
// gx [T, C] and gw [E, C] as moe_router_bwd_cpu; gradients may be null. gw is a fixed-order
// reduction over tokens (no atomics): the same bits on every run.
template <class T>
void moe_router_bwd_cuda(T* gx, T* gw, const T* x, const T* w, const T* probs, const int64_t* top_idx,
                         const T* top_probs, const T* g_logits, const T* g_probs, const T* g_weights, void* scratch,
                         const MoeRouterParams& p, cudaStream_t stream);

}  // namespace engine::kernels
