#include "engine/nn/moe/aux_losses.h"

namespace engine::nn::moe {

Variable load_balance_loss(const Variable& probs, const Tensor& counts) {
  ENGINE_CHECK(probs.dim() == 2 && counts.dim() == 1 && counts.numel() == probs.size(1),
               "moe load_balance_loss: probs " << shape_str(probs.shape()) << " and counts "
                                               << shape_str(counts.shape()) << " do not match");
  const int64_t E = probs.size(1);
  Tensor c = ops::copy(counts.to(probs.device()), probs.dtype());
  double total = ops::sum(c).item();
  Tensor f = total > 0 ? ops::mul(c, 1.0 / total) : c;
  Variable P = ag::mean(probs, {0});
  return ag::mul(ag::sum(ag::mul(P, Variable(f))), double(E));
}

Variable router_z_loss(const Variable& logits) {
  ENGINE_CHECK(logits.dim() == 2, "moe router_z_loss: expected logits [T, E], got " << shape_str(logits.shape()));
  // logsumexp(x) = m + log(sum(exp(x - m))) for any constant m; the row max keeps exp <= 1.
  Variable m(ops::max(logits.data(), {1}, true));
  Variable lse = ag::add(ag::log(ag::sum(ag::exp(ag::sub(logits, m)), {1}, true)), m);
  return ag::mean(ag::mul(lse, lse));
}

Variable importance_loss(const Variable& gates) {
  ENGINE_CHECK(gates.dim() == 2, "moe importance_loss: expected gates [T, E], got " << shape_str(gates.shape()));
  Variable imp = ag::sum(gates, {0});
  Variable mean = ag::mean(imp);
  // The tiny term keeps an all-zero importance (no tokens) at loss 0 instead of 0/0.
  return ag::div(ag::var(imp, {}, 0), ag::add(ag::mul(mean, mean), 1e-12));
}

}  // namespace engine::nn::moe
