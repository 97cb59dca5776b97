// Functional transformer ops: layer norm, the masked softmax, fused scaled dot-product
// attention and the embedding lookup (an index_select over the flattened ids).
#include <cmath>
#include <limits>

#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"
#include "engine/ops/norm_checks.h"

namespace engine::ops {
namespace {

bool is_float(DType d) { return d == DType::f32 || d == DType::f64 || d == DType::bf16 || d == DType::f16; }
// Statistics and lse: f64 beside f64, f32 otherwise.
DType stats_dtype(DType d) { return d == DType::f64 ? DType::f64 : DType::f32; }

std::string header_or_undefined(const Tensor& t) { return t.defined() ? t.header() : std::string("undefined"); }

void check_float_input(const Tensor& x, const char* what, const char* op) {
  ENGINE_CHECK(x.defined(), "op " << op << ": " << what << " is undefined");
  ENGINE_CHECK(is_float(x.dtype()), "op " << op << ": " << what << " must be floating, got " << x.header());
}

void check_param(const Tensor& t, int64_t D, DType dt, const char* what, const char* op) {
  if (!t.defined()) return;
  ENGINE_CHECK(t.shape() == Shape{D} && t.dtype() == dt, "op " << op << ": " << what << " must be [" << D
                                                               << "] of dtype " << dtype_name(dt) << ", got "
                                                               << t.header());
}

Shape without_last(const Shape& s) { return Shape(s.begin(), s.end() - 1); }

LayerNormAttrs layer_norm_attrs(const Tensor& x, double eps, const char* op) {
  check_float_input(x, "x", op);
  ENGINE_CHECK(x.dim() >= 1 && x.size(-1) > 0,
               "op " << op << ": x needs a last dim of size > 0 to normalise over, got " << shape_str(x.shape()));
  ENGINE_CHECK(std::isfinite(eps) && eps >= 0, "op " << op << ": eps must be finite and >= 0, got " << eps);
  const int64_t D = x.size(-1);
  return LayerNormAttrs{x.numel() / D, D, eps};
}

kernels::AttentionParams attention_params(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                                          double scale, const char* op) {
  check_float_input(q, "q", op);
  check_float_input(k, "k", op);
  check_float_input(v, "v", op);
  ENGINE_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
               "op " << op << ": expected q [B, H, Lq, D], k and v [B, H, Lk, D], got q " << shape_str(q.shape())
                     << ", k " << shape_str(k.shape()) << ", v " << shape_str(v.shape()));
  ENGINE_CHECK(k.shape() == v.shape() && k.size(0) == q.size(0) && k.size(1) == q.size(1) && k.size(3) == q.size(3),
               "op " << op << ": shapes do not fit q [B, H, Lq, D], k and v [B, H, Lk, D]: q " << shape_str(q.shape())
                     << ", k " << shape_str(k.shape()) << ", v " << shape_str(v.shape()));
  ENGINE_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(),
               "op " << op << ": q, k and v must share one dtype, got " << q.header() << ", " << k.header() << ", "
                     << v.header());
  ENGINE_CHECK(q.size(3) > 0, "op " << op << ": the head dimension must be > 0, got q " << shape_str(q.shape()));
  ENGINE_CHECK(std::isfinite(scale), "op " << op << ": scale must be finite, got " << scale);
  kernels::AttentionParams p;
  p.B = q.size(0);
  p.H = q.size(1);
  p.Lq = q.size(2);
  p.Lk = k.size(2);
  p.D = q.size(3);
  p.scale = scale;
  if (key_mask.defined())
    ENGINE_CHECK(
        key_mask.dtype() == DType::u8 && key_mask.shape() == (Shape{p.B, p.Lk}),
        "op " << op << ": key_mask must be u8 [B, Lk] = [" << p.B << ", " << p.Lk << "], got " << key_mask.header());
  return p;
}

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? t.contiguous() : Tensor(); }

}  // namespace

LayerNormOutput layer_norm_fwd(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const char* op = "layer_norm";
  LayerNormAttrs a = layer_norm_attrs(x, eps, op);
  const DType pd = norm_checks::channel_dtype(x, {&weight, &bias}, op);
  check_param(weight, a.D, pd, "weight", op);
  check_param(bias, a.D, pd, "bias", op);
  const DType sd = stats_dtype(x.dtype());
  LayerNormOutput r{Tensor::empty(x.shape(), x.dtype(), x.device()),
                    Tensor::empty(without_last(x.shape()), sd, x.device()),
                    Tensor::empty(without_last(x.shape()), sd, x.device())};
  if (a.rows == 0) return r;
  dispatch(OpCall{OpKind::LAYERNORM,
                  {x.contiguous(), contiguous_or_undefined(weight), contiguous_or_undefined(bias)},
                  {r.y, r.mean, r.rstd},
                  &a});
  return r;
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return layer_norm_fwd(x, weight, bias, eps).y;
}

LayerNormGrads layer_norm_bwd(const Tensor& gy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                              const Tensor& rstd, bool want_gweight, bool want_gbias) {
  const char* op = "layer_norm_bwd";
  LayerNormAttrs a = layer_norm_attrs(x, 0.0, op);
  ENGINE_CHECK(gy.defined() && gy.shape() == x.shape() && gy.dtype() == x.dtype(),
               "op " << op << ": gradient " << header_or_undefined(gy) << " and input " << x.header() << " differ");
  const DType pd = norm_checks::channel_dtype(x, {&weight}, op), sd = stats_dtype(x.dtype());
  check_param(weight, a.D, pd, "weight", op);
  for (const Tensor* t : {&mean, &rstd})
    ENGINE_CHECK(t->defined() && t->shape() == without_last(x.shape()) && t->dtype() == sd,
                 "op " << op << ": saved statistics must be " << shape_str(without_last(x.shape())) << " of dtype "
                       << dtype_name(sd) << ", got " << header_or_undefined(*t));
  LayerNormGrads g{Tensor::empty(x.shape(), x.dtype(), x.device()),
                   want_gweight ? Tensor::zeros({a.D}, pd, x.device()) : Tensor(),
                   want_gbias ? Tensor::zeros({a.D}, pd, x.device()) : Tensor()};
  if (a.rows == 0) return g;
  dispatch(
      OpCall{OpKind::LAYERNORM_BWD,
             {gy.contiguous(), x.contiguous(), contiguous_or_undefined(weight), mean.contiguous(), rstd.contiguous()},
             {g.gx, g.gweight, g.gbias},
             &a});
  return g;
}

Tensor masked_softmax(const Tensor& x, const Tensor& mask) {
  const char* op = "masked_softmax";
  check_float_input(x, "x", op);
  ENGINE_CHECK(x.dim() >= 1, "op " << op << ": a scalar has no axis to normalise over");
  Tensor m;
  if (mask.defined()) {
    ENGINE_CHECK(mask.dtype() == DType::u8, "op " << op << ": mask must be u8, got " << mask.header());
    bool fits = mask.dim() <= x.dim();
    for (int64_t i = 1; fits && i <= mask.dim(); ++i) fits = mask.size(-i) == 1 || mask.size(-i) == x.size(-i);
    ENGINE_CHECK(fits, "op " << op << ": mask " << shape_str(mask.shape()) << " does not broadcast to x "
                             << shape_str(x.shape()));
    m = mask.expand(x.shape());
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (y.numel() == 0) return y;
  const int64_t n = x.size(-1);
  MaskedSoftmaxAttrs a{x.numel() / n, n};
  dispatch(OpCall{OpKind::MASKED_SOFTMAX, {x.contiguous(), m}, {y}, &a});
  return y;
}

AttentionOutput attention_fwd(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, double scale) {
  AttentionAttrs a{attention_params(q, k, v, key_mask, scale, "attention")};
  AttentionOutput r{Tensor::empty(q.shape(), q.dtype(), q.device()),
                    Tensor::empty({a.p.B, a.p.H, a.p.Lq}, stats_dtype(q.dtype()), q.device())};
  if (r.o.numel() == 0) return r;
  if (a.p.Lk == 0) {  // nothing to attend to
    fill(r.o, 0.0);
    fill(r.lse, -std::numeric_limits<double>::infinity());
    return r;
  }
  dispatch(OpCall{OpKind::ATTENTION,
                  {q.contiguous(), k.contiguous(), v.contiguous(), contiguous_or_undefined(key_mask)},
                  {r.o, r.lse},
                  &a});
  return r;
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, double scale) {
  return attention_fwd(q, k, v, key_mask, scale).o;
}

AttentionGrads attention_bwd(const Tensor& go, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
                             const Tensor& lse, const Tensor& key_mask, double scale) {
  const char* op = "attention_bwd";
  AttentionAttrs a{attention_params(q, k, v, key_mask, scale, op)};
  for (const Tensor* t : {&go, &o})
    ENGINE_CHECK(t->defined() && t->shape() == q.shape() && t->dtype() == q.dtype(),
                 "op " << op << ": the output and its gradient must be like q " << q.header() << ", got "
                       << header_or_undefined(*t));
  ENGINE_CHECK(lse.defined() && lse.shape() == (Shape{a.p.B, a.p.H, a.p.Lq}) && lse.dtype() == stats_dtype(q.dtype()),
               "op " << op << ": lse must be [B, H, Lq] of dtype " << dtype_name(stats_dtype(q.dtype())) << ", got "
                     << header_or_undefined(lse));
  AttentionGrads g{Tensor::empty(q.shape(), q.dtype(), q.device()), Tensor::empty(k.shape(), k.dtype(), k.device()),
                   Tensor::empty(v.shape(), v.dtype(), v.device())};
  if (a.p.B * a.p.H * a.p.Lq * a.p.Lk == 0) {  // no score, no gradient
    for (const Tensor* t : {&g.gq, &g.gk, &g.gv})
      if (t->numel() > 0) fill(*t, 0.0);
    return g;
  }
  dispatch(OpCall{OpKind::ATTENTION_BWD,
                  {go.contiguous(), q.contiguous(), k.contiguous(), v.contiguous(), o.contiguous(), lse.contiguous(),
                   contiguous_or_undefined(key_mask)},
                  {g.gq, g.gk, g.gv},
                  &a});
  return g;
}

Tensor embedding_index(const Tensor& ids, int64_t vocab) {
  ENGINE_CHECK(ids.defined() && (ids.dtype() == DType::i32 || ids.dtype() == DType::i64),
               "op embedding: ids must be i32 or i64, got " << header_or_undefined(ids));
  Tensor flat = ids.reshape({ids.numel()});
  if (flat.dtype() != DType::i64) flat = copy(flat, DType::i64);
  if (flat.device().type == DeviceType::CPU) {
    const Tensor c = flat.contiguous();
    const int64_t* p = c.data<int64_t>();
    for (int64_t i = 0; i < c.numel(); ++i)
      ENGINE_CHECK(p[i] >= 0 && p[i] < vocab, "op embedding: id " << p[i] << " at position " << i
                                                                  << " is outside the vocabulary of " << vocab
                                                                  << " rows (ids must be in [0, " << vocab << "))");
  }
  return flat;
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  ENGINE_CHECK(weight.defined() && weight.dim() == 2,
               "op embedding: weight must be [V, D], got " << header_or_undefined(weight));
  Shape out = ids.defined() ? ids.shape() : Shape{};
  out.push_back(weight.size(1));
  return index_select(weight, 0, embedding_index(ids, weight.size(0))).reshape(out);
}

}  // namespace engine::ops
