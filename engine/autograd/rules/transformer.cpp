// Backward rules of the transformer ops. Layer norm keeps its statistics, the masked
// softmax its output, attention its output and lse (the backward recomputes the
// probabilities from them); the embedding is an index_select, whose backward is an
// index_add that accumulates repeated ids.
#include "engine/autograd/autocast.h"
#include "engine/autograd/functions.h"

namespace engine::ag {
namespace {
Tensor data_or_undefined(const Variable& v) { return v.defined() ? v.data() : Tensor(); }
}  // namespace

Variable layer_norm(const Variable& x_in, const Variable& weight_in, const Variable& bias_in, double eps) {
  auto [x, weight, bias] = autocast(AutocastPolicy::Float32, x_in, weight_in, bias_in);
  ops::LayerNormOutput r = ops::layer_norm_fwd(x.data(), data_or_undefined(weight), data_or_undefined(bias), eps);
  Tensor mean = r.mean, rstd = r.rstd;
  return Variable::make(
      r.y, OpKind::LAYERNORM, {x, weight, bias}, [mean, rstd](std::vector<Variable>& v, const Tensor& g) {
        const bool gw = v[1].defined() && v[1].requires_grad();
        const bool gb = v[2].defined() && v[2].requires_grad();
        ops::LayerNormGrads gr = ops::layer_norm_bwd(g, v[0].data(), data_or_undefined(v[1]), mean, rstd, gw, gb);
        if (v[0].requires_grad()) v[0].add_grad(gr.gx);
        if (gw) v[1].add_grad(gr.gweight);
        if (gb) v[2].add_grad(gr.gbias);
      });
}

Variable masked_softmax(const Variable& x_in, const Tensor& mask) {
  auto [x] = autocast(AutocastPolicy::Float32, x_in);
  Tensor y = ops::masked_softmax(x.data(), mask);
  // Excluded entries have y = 0, so softmax's backward y * (g - sum g y) gives them 0.
  return Variable::make(y, OpKind::MASKED_SOFTMAX, {x}, [y](std::vector<Variable>& v, const Tensor& g) {
    if (v[0].requires_grad()) v[0].add_grad(ops::softmax_bwd(g, y, -1));
  });
}

Variable attention(const Variable& q_in, const Variable& k_in, const Variable& v_in, const Tensor& key_mask,
                   double scale) {
  auto [q, k, v] = autocast(AutocastPolicy::LowPrecision, q_in, k_in, v_in);
  ops::AttentionOutput r = ops::attention_fwd(q.data(), k.data(), v.data(), key_mask, scale);
  Tensor o = r.o, lse = r.lse;
  return Variable::make(o, OpKind::ATTENTION, {q, k, v},
                        [o, lse, key_mask, scale](std::vector<Variable>& in, const Tensor& g) {
                          ops::AttentionGrads gr =
                              ops::attention_bwd(g, in[0].data(), in[1].data(), in[2].data(), o, lse, key_mask, scale);
                          if (in[0].requires_grad()) in[0].add_grad(gr.gq);
                          if (in[1].requires_grad()) in[1].add_grad(gr.gk);
                          if (in[2].requires_grad()) in[2].add_grad(gr.gv);
                        });
}

Variable embedding(const Variable& weight, const Tensor& ids) {
  ENGINE_CHECK(weight.defined() && weight.dim() == 2, "op embedding: weight must be [V, D], got "
                                                          << (weight.defined() ? weight.data().header() : "undefined"));
  Shape out = ids.defined() ? ids.shape() : Shape{};
  out.push_back(weight.shape()[1]);
  return reshape(index_select(weight, 0, ops::embedding_index(ids, weight.shape()[0])), out);
}

}  // namespace engine::ag
