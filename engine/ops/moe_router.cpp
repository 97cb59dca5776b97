// The fused linear router of the mixture-of-experts layer: logits, softmax, top-k and
// combine weights of every token in one op (MOE_ROUTER_TOPK) and its backward
// (MOE_ROUTER_TOPK_BWD) to the tokens and the router weight.
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"

namespace engine::ops {
namespace {

bool is_float(DType d) { return d == DType::f32 || d == DType::f64 || d == DType::bf16 || d == DType::f16; }

kernels::MoeRouterParams router_params(const char* op, const Tensor& x, const Tensor& w, int64_t k, double temperature,
                                       bool renormalize) {
  ENGINE_CHECK(x.defined() && w.defined() && x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1),
               "op " << op << ": expected x [T, C] and w [E, C], got "
                     << (x.defined() ? shape_str(x.shape()) : "undefined") << " and "
                     << (w.defined() ? shape_str(w.shape()) : "undefined"));
  ENGINE_CHECK(is_float(x.dtype()) && x.dtype() == w.dtype(),
               "op " << op << ": x and w must share one float dtype, got " << x.header() << " and " << w.header());
  ENGINE_CHECK(x.device() == w.device(), "op " << op << ": x on " << x.device().str() << ", w on " << w.device().str());
  const int64_t E = w.size(0);
  ENGINE_CHECK(E >= 1 && k >= 1 && k <= E, "op " << op << ": k = " << k << " of " << E << " experts");
  ENGINE_CHECK(temperature > 0, "op " << op << ": temperature = " << temperature << ", expected > 0");
  return kernels::MoeRouterParams{x.size(0), x.size(1), E, k, temperature, renormalize};
}

Tensor grad_or_empty(const char* op, const char* what, const Tensor& g, const Shape& s, DType d) {
  if (!g.defined()) return Tensor();
  ENGINE_CHECK(g.shape() == s && g.dtype() == d, "op " << op << ": " << what << " must be " << shape_str(s) << " "
                                                       << dtype_name(d) << ", got " << g.header());
  return g.contiguous();
}

}  // namespace

MoeRouterOutput moe_router_topk(const Tensor& x, const Tensor& w, int64_t k, double temperature, bool renormalize) {
  MoeRouterAttrs a{router_params("moe_router_topk", x, w, k, temperature, renormalize)};
  const int64_t T = a.p.T, E = a.p.E;
  const Device dev = x.device();
  MoeRouterOutput r;
  r.logits = Tensor::empty({T, E}, x.dtype(), dev);
  r.probs = Tensor::empty({T, E}, x.dtype(), dev);
  r.top_idx = Tensor::empty({T, k}, DType::i64, dev);
  r.top_probs = Tensor::empty({T, k}, x.dtype(), dev);
  r.weights = Tensor::empty({T, k}, x.dtype(), dev);
  if (T == 0) return r;
  dispatch(OpCall{OpKind::MOE_ROUTER_TOPK,
                  {x.contiguous(), w.contiguous()},
                  {r.logits, r.probs, r.top_idx, r.top_probs, r.weights},
                  &a});
  return r;
}

MoeRouterGrads moe_router_topk_bwd(const Tensor& x, const Tensor& w, const MoeRouterOutput& fwd, const Tensor& g_logits,
                                   const Tensor& g_probs, const Tensor& g_weights, double temperature,
                                   bool renormalize) {
  const char* op = "moe_router_topk_bwd";
  ENGINE_CHECK(fwd.probs.defined() && fwd.top_idx.defined() && fwd.top_probs.defined(),
               "op " << op << ": needs the forward's probs, top_idx and top_probs");
  const int64_t k = fwd.top_idx.dim() == 2 ? fwd.top_idx.size(1) : 0;
  MoeRouterAttrs a{router_params(op, x, w, k, temperature, renormalize)};
  const int64_t T = a.p.T, E = a.p.E;
  ENGINE_CHECK(fwd.probs.shape() == Shape({T, E}) && fwd.top_idx.shape() == Shape({T, k}) &&
                   fwd.top_probs.shape() == Shape({T, k}) && fwd.top_idx.dtype() == DType::i64,
               "op " << op << ": forward outputs " << fwd.probs.header() << ", " << fwd.top_idx.header() << ", "
                     << fwd.top_probs.header() << " do not fit x " << shape_str(x.shape()) << " and w "
                     << shape_str(w.shape()));
  MoeRouterGrads g;
  g.gx = Tensor::empty({T, a.p.C}, x.dtype(), x.device());
  g.gw = Tensor::empty({E, a.p.C}, x.dtype(), x.device());
  if (T == 0 || a.p.C == 0) {
    g.gw.zero_();
    return g;
  }
  dispatch(OpCall{OpKind::MOE_ROUTER_TOPK_BWD,
                  {x.contiguous(), w.contiguous(), fwd.probs.contiguous(), fwd.top_idx.contiguous(),
                   fwd.top_probs.contiguous(), grad_or_empty(op, "g_logits", g_logits, {T, E}, x.dtype()),
                   grad_or_empty(op, "g_probs", g_probs, {T, E}, x.dtype()),
                   grad_or_empty(op, "g_weights", g_weights, {T, k}, x.dtype())},
                  {g.gx, g.gw},
                  &a});
  return g;
}

}  // namespace engine::ops
