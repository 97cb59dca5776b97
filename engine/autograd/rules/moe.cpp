// Backward rules of the mixture-of-experts family. For y[r] = x[r] w[e(r)] over an
// expert-contiguous buffer: gx[r] = gy[r] w[e(r)]^T and gw[e] = x_e^T gy_e, each a
// grouped GEMM of its own (MOE_GROUPED_MATMUL_BWD_DATA / _BWD_WEIGHT).
#include "engine/autograd/autocast.h"
#include "engine/autograd/functions.h"

namespace engine::ag {

Variable moe_grouped_matmul(const Variable& x_in, const Variable& w_in, const Tensor& offsets) {
  auto [x, w] = autocast(AutocastPolicy::LowPrecision, x_in, w_in);
  return Variable::make(ops::moe_grouped_matmul(x.data(), w.data(), offsets), OpKind::MOE_GROUPED_MATMUL, {x, w},
                        [offsets](std::vector<Variable>& v, const Tensor& g) {
                          if (v[0].requires_grad())
                            v[0].add_grad(ops::moe_grouped_matmul_bwd_data(g, v[1].data(), offsets));
                          if (v[1].requires_grad())
                            v[1].add_grad(ops::moe_grouped_matmul_bwd_weight(v[0].data(), g, offsets, v[1].size(0)));
                        });
}

}  // namespace engine::ag

namespace engine::ag {

MoeRouterTopK moe_router_topk(const Variable& x_in, const Variable& w_in, int64_t k, double temperature,
                              bool renormalize) {
  auto [x, w] = autocast(AutocastPolicy::Float32, x_in, w_in);  // the router's softmax needs f32
  ops::MoeRouterOutput f = ops::moe_router_topk(x.data(), w.data(), k, temperature, renormalize);
  const int64_t E = w.size(0);
  // The three differentiable outputs side by side [T, 2E + k]: their gradients meet in
  // the packed node and come back split.
  Tensor packed = ops::concat({f.logits, f.probs, f.weights}, 1);
  ops::MoeRouterOutput saved{Tensor(), f.probs, f.top_idx, f.top_probs, Tensor()};
  Variable node = Variable::make(packed, OpKind::MOE_ROUTER_TOPK, {x, w},
                                 [saved, E, k, temperature, renormalize](std::vector<Variable>& v, const Tensor& g) {
                                   if (!v[0].requires_grad() && !v[1].requires_grad()) return;
                                   ops::MoeRouterGrads gr = ops::moe_router_topk_bwd(
                                       v[0].data(), v[1].data(), saved, g.slice(1, 0, E), g.slice(1, E, 2 * E),
                                       g.slice(1, 2 * E, 2 * E + k), temperature, renormalize);
                                   if (v[0].requires_grad()) v[0].add_grad(gr.gx);
                                   if (v[1].requires_grad()) v[1].add_grad(gr.gw);
                                 });
  MoeRouterTopK r;
  r.logits = slice(node, 1, 0, E);
  r.probs = slice(node, 1, E, 2 * E);
  r.weights = slice(node, 1, 2 * E, 2 * E + k);
  r.top_idx = f.top_idx;
  r.top_probs = f.top_probs;
  return r;
}

}  // namespace engine::ag
