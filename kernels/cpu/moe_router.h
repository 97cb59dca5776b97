#pragma once
// CPU reference of the fused linear router (MOE_ROUTER_TOPK): per token, the logits
// against E experts, their softmax, the top k and the combine weights in one pass,
// and its backward to the tokens and the router weight.
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

// x [T, C], w [E, C]. logits [T, E] = x w^T / temperature; probs [T, E] = softmax
// of the logits; top_idx [T, k] the k largest probabilities in descending order (ties:
// the lower expert first), top_probs [T, k] their values, weights [T, k] = top_probs,
// divided by their sum per token when p.renormalize. Accumulates in double.
template <class T>
void moe_router_fwd_cpu(T* logits, T* probs, int64_t* top_idx, T* top_probs, T* weights, const T* x, const T* w,
                        const MoeRouterParams& p);

// gx [T, C] and gw [E, C] (overwritten) from the gradients of the forward's logits,
// probs [T, E] and weights [T, k]; any of the three may be null (zero).
template <class T>
void moe_router_bwd_cpu(T* gx, T* gw, const T* x, const T* w, const T* probs, const int64_t* top_idx,
                        const T* top_probs, const T* g_logits, const T* g_probs, const T* g_weights,
                        const MoeRouterParams& p);

}  // namespace engine::kernels
