#pragma once
// The mixture-of-experts router: scores each token [T, C] against E experts, adds
// gating noise in training, divides by a temperature, takes the softmax and the top k.
// Written as a function of its parameters so that the whole layer can be
// gradient-checked with the parameters as inputs; MoELayer owns the parameters.
#include <cstdint>

#include "engine/autograd/functions.h"

namespace engine::nn::moe {

enum class RouterKind { Linear, Attentive };

struct RouterOptions {
  int64_t num_experts = 4, top_k = 1;
  RouterKind kind = RouterKind::Linear;
  // Noisy top-k: logits += eps * std, eps ~ N(0, 1) from the default generator, in
  // training only; std is noise_std, or softplus(x W_noise^T) when learned_noise.
  bool noisy = false, learned_noise = false;
  double noise_std = 1.0;
  double temperature = 1.0;
  bool renormalize = false;  // the k combine weights of a token divided by their sum
  // A linear router without noise and with at most kMaxFusedExperts experts runs as one
  // fused op (ops::moe_router_topk); false keeps the op-by-op path (for comparisons).
  bool fused = true;
};

constexpr int64_t kMaxFusedExperts = 32;  // one expert per lane of a CUDA warp

// Linear: logits = x W^T with weight [E, C] (nn.Linear(C, E, bias=False)).
// Attentive: q = x Q^T with query [d, C]; logits = q K^T / sqrt(d) with keys [E, d].
// noise [E, C]: only with learned_noise.
struct RouterParams {
  Variable weight, query, keys, noise;
};

struct RouterOutput {
  Variable logits;   // [T, E]: the softmax input (noise and temperature applied)
  Variable probs;    // [T, E]
  Variable weights;  // [T, k]: combine weights (the top-k probabilities, renormalised if asked)
  Tensor experts;    // [T, k] i64: the chosen experts in rank order (ties: lower index)
  Tensor top_probs;  // [T, k]: the top-k probabilities before renormalisation (drop priority)
};

// softplus(z) = log(1 + e^z), stable for large |z|.
Variable softplus(const Variable& z);
RouterOutput route(const Variable& x, const RouterParams& p, const RouterOptions& o, bool training);

}  // namespace engine::nn::moe
