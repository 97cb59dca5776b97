#pragma once
// Auxiliary losses of a mixture-of-experts layer, added to the task loss with their
// coefficients (lb_coef, z_coef, importance_coef).
#include "engine/autograd/functions.h"

namespace engine::nn::moe {

// Switch Transformer load balance: E * sum_e f_e * P_e, where f_e = counts_e / sum(counts)
// is the fraction of slots routed to e (a constant, no gradient) and P_e the mean router
// probability of e over the tokens (differentiable). 1 when both are uniform.
// probs [T, E], counts [E] (any dtype, any device).
Variable load_balance_loss(const Variable& probs, const Tensor& counts);
// Router z-loss (ST-MoE): mean over tokens of logsumexp(logits)^2, computed from the
// row maximum so that it stays finite for large logits. logits [T, E].
Variable router_z_loss(const Variable& logits);
// Importance loss (Shazeer et al.): the squared coefficient of variation of the
// importance I_e = sum_t gates[t, e] (population variance / mean^2). gates [T, E].
Variable importance_loss(const Variable& gates);

}  // namespace engine::nn::moe
