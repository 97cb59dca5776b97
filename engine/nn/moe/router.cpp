#include "engine/nn/moe/router.h"

#include <cmath>

#include "engine/core/generator.h"

namespace engine::nn::moe {

Variable softplus(const Variable& z) {
  // relu(z) + log(1 + e^{-|z|}). |z| is maximum(-z, z): at z = 0 its gradient goes to
  // -z (maximum favours its first argument), which with relu'(0) = 0 gives the true
  // softplus'(0) = 1/2.
  Variable abs_z = ag::maximum(ag::neg(z), z);
  return ag::add(ag::relu(z), ag::log(ag::add(ag::exp(ag::neg(abs_z)), 1.0)));
}

RouterOutput route(const Variable& x, const RouterParams& p, const RouterOptions& o, bool training) {
  ENGINE_CHECK(x.dim() == 2, "moe router: expected tokens [T, C], got " << shape_str(x.shape()));
  const int64_t T = x.size(0), E = o.num_experts;
  ENGINE_CHECK(o.top_k >= 1 && o.top_k <= E, "moe router: top_k = " << o.top_k << " with " << E << " experts");
  ENGINE_CHECK(o.temperature > 0, "moe router: temperature = " << o.temperature << ", expected > 0");
  Variable logits;
  if (o.kind == RouterKind::Linear) {
    ENGINE_CHECK(p.weight.defined() && p.weight.dim() == 2 && p.weight.size(0) == E && p.weight.size(1) == x.size(1),
                 "moe router: weight must be [" << E << ", " << x.size(1) << "], got "
                                                << (p.weight.defined() ? shape_str(p.weight.shape()) : "undefined"));
    if (o.fused && !(training && o.noisy) && E <= kMaxFusedExperts) {
      ag::MoeRouterTopK f = ag::moe_router_topk(x, p.weight, o.top_k, o.temperature, o.renormalize);
      return RouterOutput{f.logits, f.probs, f.weights, f.top_idx, f.top_probs};
    }
    logits = ag::linear(x, p.weight, Variable());
  } else {
    ENGINE_CHECK(p.query.defined() && p.keys.defined() && p.query.dim() == 2 && p.keys.dim() == 2 &&
                     p.query.size(1) == x.size(1) && p.keys.size(0) == E && p.keys.size(1) == p.query.size(0),
                 "moe router: attentive routing needs query [d, " << x.size(1) << "] and keys [" << E << ", d]");
    Variable q = ag::linear(x, p.query, Variable());
    logits = ag::mul(ag::matmul(q, ag::transpose(p.keys, 0, 1)), 1.0 / std::sqrt(double(p.query.size(0))));
  }
  if (training && o.noisy) {
    Generator& g = default_generator();
    uint64_t off = g.take(2 * uint64_t(T * E));  // Box-Muller: two counters per value
    Tensor eps = ops::randn({T, E}, g.seed(), off / 2, x.dtype(), x.device());
    if (o.learned_noise) {
      ENGINE_CHECK(p.noise.defined(), "moe router: learned noise needs its weight");
      logits = ag::add(logits, ag::mul(Variable(eps), softplus(ag::linear(x, p.noise, Variable()))));
    } else {
      logits = ag::add(logits, Variable(ops::mul(eps, o.noise_std)));
    }
  }
  if (o.temperature != 1.0) logits = ag::mul(logits, 1.0 / o.temperature);
  RouterOutput r;
  r.logits = logits;
  r.probs = ag::softmax(logits, 1);
  ag::TopK top = ag::topk(r.probs, o.top_k, 1);
  r.experts = top.indices;
  r.top_probs = top.values.data();
  r.weights = o.renormalize ? ag::div(top.values, ag::sum(top.values, {1}, true)) : top.values;
  return r;
}

}  // namespace engine::nn::moe
