// Functional reductions: the input is permuted so that the reduced axes come last,
// made contiguous and viewed as [outer, inner]; kernels reduce each row.
#include <algorithm>

#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"

namespace engine::ops {
namespace {

struct Plan {
  Tensor rows;      // [outer, inner] contiguous
  Shape out_shape;  // with or without kept dims
  int64_t outer = 1, inner = 1;
};

Plan plan_reduce(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim, const char* op) {
  ENGINE_CHECK(x.defined(), "op " << op << ": undefined input");
  int64_t nd = x.dim();
  std::vector<bool> red(size_t(nd), axes.empty());
  for (int64_t a : axes) {
    int64_t w = wrap_axis(a, nd, op);
    ENGINE_CHECK(!red[size_t(w)] || axes.empty(), "op " << op << ": axis " << a << " given twice");
    red[size_t(w)] = true;
  }
  std::vector<int64_t> perm;
  Plan p;
  for (int64_t i = 0; i < nd; ++i)
    if (!red[size_t(i)]) {
      perm.push_back(i);
      p.outer *= x.shape()[size_t(i)];
      p.out_shape.push_back(x.shape()[size_t(i)]);
    } else if (keepdim) {
      p.out_shape.push_back(1);
    }
  if (keepdim) {
    p.out_shape.clear();
    for (int64_t i = 0; i < nd; ++i) p.out_shape.push_back(red[size_t(i)] ? 1 : x.shape()[size_t(i)]);
  }
  for (int64_t i = 0; i < nd; ++i)
    if (red[size_t(i)]) {
      perm.push_back(i);
      p.inner *= x.shape()[size_t(i)];
    }
  p.rows = x.permute(perm).contiguous().view({p.outer, p.inner});
  return p;
}

Tensor run_reduce(OpKind kind, const Tensor& x, const std::vector<int64_t>& axes, bool keepdim, int64_t correction) {
  Plan p = plan_reduce(x, axes, keepdim, op_name(kind));
  ENGINE_CHECK(p.inner > 0 || kind == OpKind::SUM,
               "op " << op_name(kind) << ": reduction over an empty set of elements in " << x.header());
  if (kind == OpKind::VAR)
    ENGINE_CHECK(p.inner - correction > 0, "op var: " << p.inner << " elements with correction " << correction);
  Tensor out = Tensor::empty(p.out_shape, x.dtype(), x.device());
  if (p.outer == 0) return out;
  if (p.inner == 0) {
    out.zero_();
    return out;
  }
  ReduceAttrs a{p.outer, p.inner, correction};
  dispatch(OpCall{kind, {p.rows}, {out.view({p.outer})}, &a});
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return run_reduce(OpKind::SUM, x, axes, keepdim, 0);
}
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return run_reduce(OpKind::MEAN, x, axes, keepdim, 0);
}
Tensor max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return run_reduce(OpKind::MAX, x, axes, keepdim, 0);
}
Tensor var(const Tensor& x, const std::vector<int64_t>& axes, int64_t correction, bool keepdim) {
  return run_reduce(OpKind::VAR, x, axes, keepdim, correction);
}

Tensor argmax(const Tensor& x, int64_t axis, bool keepdim) {
  Plan p = plan_reduce(x, {axis}, keepdim, "argmax");
  ENGINE_CHECK(p.inner > 0, "op argmax: empty axis in " << x.header());
  Tensor out = Tensor::empty(p.out_shape, DType::i64, x.device());
  if (p.outer == 0) return out;
  ReduceAttrs a{p.outer, p.inner, 0};
  dispatch(OpCall{OpKind::ARGMAX, {p.rows}, {out.view({p.outer})}, &a});
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  ENGINE_CHECK(shape.size() <= x.shape().size(),
               "sum_to: cannot sum " << shape_str(x.shape()) << " to " << shape_str(shape));
  size_t lead = x.shape().size() - shape.size();
  std::vector<int64_t> axes;
  for (size_t i = 0; i < x.shape().size(); ++i) {
    if (i < lead) {
      axes.push_back(int64_t(i));
    } else if (shape[i - lead] == 1 && x.shape()[i] != 1) {
      axes.push_back(int64_t(i));
    } else {
      ENGINE_CHECK(shape[i - lead] == x.shape()[i],
                   "sum_to: cannot sum " << shape_str(x.shape()) << " to " << shape_str(shape));
    }
  }
  if (axes.empty()) return x.reshape(shape);
  return sum(x, axes, true).reshape(shape);
}

}  // namespace engine::ops
