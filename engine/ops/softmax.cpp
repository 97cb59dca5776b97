// Functional softmax family: inputs are made contiguous and viewed as
// [outer, n, inner] around the normalised axis.
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"

namespace engine::ops {
namespace {

bool is_float(DType d) { return d == DType::f32 || d == DType::f64 || d == DType::bf16 || d == DType::f16; }

SoftmaxAttrs softmax_attrs(const Shape& s, int64_t axis) {
  SoftmaxAttrs a{1, s[size_t(axis)], 1};
  for (int64_t d = 0; d < int64_t(s.size()); ++d) {
    if (d < axis) a.outer *= s[size_t(d)];
    if (d > axis) a.inner *= s[size_t(d)];
  }
  return a;
}

Tensor run_softmax(OpKind kind, const Tensor& x, int64_t axis) {
  const char* op = op_name(kind);
  ENGINE_CHECK(x.defined(), "op " << op << ": undefined input");
  ENGINE_CHECK(is_float(x.dtype()), "op " << op << ": input must be floating, got " << x.header());
  ENGINE_CHECK(x.dim() > 0, "op " << op << ": a scalar has no axis to normalise over");
  axis = wrap_axis(axis, x.dim(), op);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  SoftmaxAttrs a = softmax_attrs(x.shape(), axis);
  dispatch(OpCall{kind, {x.contiguous()}, {out}, &a});
  return out;
}

Tensor run_softmax_bwd(OpKind kind, const Tensor& gy, const Tensor& y, int64_t axis) {
  const char* op = op_name(kind);
  ENGINE_CHECK(gy.defined() && y.defined(), "op " << op << ": undefined input");
  ENGINE_CHECK(gy.shape() == y.shape() && gy.dtype() == y.dtype(),
               "op " << op << ": gradient " << gy.header() << " and output " << y.header() << " differ");
  ENGINE_CHECK(y.dim() > 0, "op " << op << ": a scalar has no axis to normalise over");
  axis = wrap_axis(axis, y.dim(), op);
  Tensor out = Tensor::empty(y.shape(), y.dtype(), y.device());
  if (out.numel() == 0) return out;
  SoftmaxAttrs a = softmax_attrs(y.shape(), axis);
  dispatch(OpCall{kind, {gy.contiguous(), y.contiguous()}, {out}, &a});
  return out;
}

void check_cross_entropy_inputs(const char* op, const Tensor& logits, const Tensor& labels, double s) {
  ENGINE_CHECK(logits.defined() && labels.defined(), "op " << op << ": undefined input");
  ENGINE_CHECK(is_float(logits.dtype()), "op " << op << ": logits must be floating, got " << logits.header());
  ENGINE_CHECK(logits.dim() == 2 && logits.size(0) > 0 && logits.size(1) > 0,
               "op " << op << ": logits must be [N, C] with N, C > 0, got " << shape_str(logits.shape()));
  ENGINE_CHECK(labels.dtype() == DType::i64, "op " << op << ": labels must be i64, got " << labels.header());
  ENGINE_CHECK(labels.dim() == 1 && labels.size(0) == logits.size(0),
               "op " << op << ": labels " << shape_str(labels.shape()) << " must be [N] for logits "
                     << shape_str(logits.shape()));
  ENGINE_CHECK(s >= 0.0 && s <= 1.0, "op " << op << ": label smoothing " << s << " is outside [0, 1]");
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t axis) { return run_softmax(OpKind::SOFTMAX, x, axis); }
Tensor log_softmax(const Tensor& x, int64_t axis) { return run_softmax(OpKind::LOG_SOFTMAX, x, axis); }
Tensor softmax_bwd(const Tensor& gy, const Tensor& y, int64_t axis) {
  return run_softmax_bwd(OpKind::SOFTMAX_BWD, gy, y, axis);
}
Tensor log_softmax_bwd(const Tensor& gy, const Tensor& y, int64_t axis) {
  return run_softmax_bwd(OpKind::LOG_SOFTMAX_BWD, gy, y, axis);
}

CrossEntropyOutput cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing) {
  check_cross_entropy_inputs("cross_entropy", logits, labels, label_smoothing);
  CrossEntropyOutput r{Tensor::empty({}, logits.dtype(), logits.device()),
                       Tensor::empty({logits.size(0)}, logits.dtype(), logits.device())};
  CrossEntropyAttrs a{label_smoothing};
  dispatch(OpCall{OpKind::CROSS_ENTROPY, {logits.contiguous(), labels.contiguous()}, {r.loss, r.lse}, &a});
  return r;
}

Tensor cross_entropy_bwd(const Tensor& gloss, const Tensor& logits, const Tensor& labels, const Tensor& lse,
                         double label_smoothing) {
  const char* op = "cross_entropy_bwd";
  check_cross_entropy_inputs(op, logits, labels, label_smoothing);
  ENGINE_CHECK(gloss.defined() && gloss.numel() == 1 && gloss.dtype() == logits.dtype(),
               "op " << op << ": the loss gradient must be one element of the logits' dtype, got "
                     << (gloss.defined() ? gloss.header() : std::string("undefined")));
  ENGINE_CHECK(lse.defined() && lse.shape() == labels.shape() && lse.dtype() == logits.dtype(),
               "op " << op << ": lse must be [N] of the logits' dtype, got "
                     << (lse.defined() ? lse.header() : std::string("undefined")));
  Tensor out = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  CrossEntropyAttrs a{label_smoothing};
  dispatch(OpCall{OpKind::CROSS_ENTROPY_BWD,
                  {gloss.contiguous(), logits.contiguous(), labels.contiguous(), lse.contiguous()},
                  {out},
                  &a});
  return out;
}

}  // namespace engine::ops
