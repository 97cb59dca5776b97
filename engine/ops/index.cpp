// Functional indexing ops: operands are made contiguous and viewed as
// [outer, n, inner] around the indexed axis, so that kernels see plain 3-D blocks.
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"

namespace engine::ops {
namespace {

struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};

AxisSplit split_at(const Shape& s, int64_t axis) {
  AxisSplit r;
  for (int64_t d = 0; d < int64_t(s.size()); ++d) {
    if (d < axis) r.outer *= s[size_t(d)];
    if (d > axis) r.inner *= s[size_t(d)];
  }
  r.n = s[size_t(axis)];
  return r;
}

bool is_float(DType d) { return d == DType::f32 || d == DType::f64 || d == DType::bf16 || d == DType::f16; }

void check_float(const char* op, const char* what, const Tensor& t) {
  ENGINE_CHECK(t.defined(), "op " << op << ": undefined " << what);
  ENGINE_CHECK(is_float(t.dtype()), "op " << op << ": " << what << " must be floating, got " << t.header());
}

void check_index(const char* op, const Tensor& index) {
  ENGINE_CHECK(index.defined(), "op " << op << ": undefined index");
  ENGINE_CHECK(index.dtype() == DType::i64, "op " << op << ": the index must be i64, got " << index.header());
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  ENGINE_CHECK(a.dtype() == b.dtype(), "op " << op << ": dtypes differ: " << a.header() << " and " << b.header());
}

// index (and thus the result) matches `x` in every dim except `axis`.
void check_index_shape(const char* op, const Tensor& x, const Tensor& index, int64_t axis) {
  bool ok = index.dim() == x.dim();
  for (int64_t d = 0; ok && d < x.dim(); ++d) ok = d == axis || index.shape()[size_t(d)] == x.shape()[size_t(d)];
  ENGINE_CHECK(ok, "op " << op << ": index " << shape_str(index.shape()) << " must match " << shape_str(x.shape())
                         << " in every dim except axis " << axis);
}

Shape with_axis(Shape s, int64_t axis, int64_t n) {
  s[size_t(axis)] = n;
  return s;
}

}  // namespace

Tensor gather(const Tensor& x, int64_t axis, const Tensor& index) {
  check_float("gather", "input", x);
  check_index("gather", index);
  axis = wrap_axis(axis, x.dim(), "gather");
  check_index_shape("gather", x, index, axis);
  Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  AxisSplit s = split_at(x.shape(), axis);
  GatherAttrs a{s.outer, s.n, index.shape()[size_t(axis)], s.inner};
  dispatch(OpCall{OpKind::GATHER, {x.contiguous(), index.contiguous()}, {out}, &a});
  return out;
}

Tensor scatter_add(const Tensor& base, int64_t axis, const Tensor& index, const Tensor& src) {
  check_float("scatter_add", "base", base);
  check_float("scatter_add", "source", src);
  check_same_dtype("scatter_add", base, src);
  check_index("scatter_add", index);
  axis = wrap_axis(axis, base.dim(), "scatter_add");
  check_index_shape("scatter_add", base, index, axis);
  ENGINE_CHECK(src.shape() == index.shape(), "op scatter_add: source " << shape_str(src.shape()) << " and index "
                                                                       << shape_str(index.shape())
                                                                       << " must have the same shape");
  Tensor out = Tensor::empty(base.shape(), base.dtype(), base.device());
  if (out.numel() == 0) return out;
  AxisSplit s = split_at(base.shape(), axis);
  if (index.numel() == 0) {
    copy_into(out, base);
    return out;
  }
  GatherAttrs a{s.outer, s.n, index.shape()[size_t(axis)], s.inner};
  dispatch(OpCall{OpKind::SCATTER_ADD, {base.contiguous(), index.contiguous(), src.contiguous()}, {out}, &a});
  return out;
}

Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index) {
  check_float("index_select", "input", x);
  check_index("index_select", index);
  ENGINE_CHECK(index.dim() == 1, "op index_select: the index must be 1-D, got " << shape_str(index.shape()));
  axis = wrap_axis(axis, x.dim(), "index_select");
  Tensor out = Tensor::empty(with_axis(x.shape(), axis, index.numel()), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  AxisSplit s = split_at(x.shape(), axis);
  IndexAttrs a{s.outer, s.n, index.numel(), s.inner};
  dispatch(OpCall{OpKind::INDEX_SELECT, {x.contiguous(), index.contiguous()}, {out}, &a});
  return out;
}

Tensor index_add(const Tensor& base, int64_t axis, const Tensor& index, const Tensor& src) {
  check_float("index_add", "base", base);
  check_float("index_add", "source", src);
  check_same_dtype("index_add", base, src);
  check_index("index_add", index);
  ENGINE_CHECK(index.dim() == 1, "op index_add: the index must be 1-D, got " << shape_str(index.shape()));
  axis = wrap_axis(axis, base.dim(), "index_add");
  Shape want = with_axis(base.shape(), axis, index.numel());
  ENGINE_CHECK(src.shape() == want, "op index_add: source " << shape_str(src.shape()) << " must be " << shape_str(want)
                                                            << " (base " << shape_str(base.shape()) << " with axis "
                                                            << axis << " of the index's length)");
  Tensor out = Tensor::empty(base.shape(), base.dtype(), base.device());
  if (out.numel() == 0) return out;
  if (src.numel() == 0) {
    copy_into(out, base);
    return out;
  }
  AxisSplit s = split_at(base.shape(), axis);
  IndexAttrs a{s.outer, s.n, index.numel(), s.inner};
  dispatch(OpCall{OpKind::INDEX_ADD, {base.contiguous(), index.contiguous(), src.contiguous()}, {out}, &a});
  return out;
}

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  ENGINE_CHECK(!xs.empty(), "op concat: no inputs");
  const Tensor& x0 = xs[0];
  ENGINE_CHECK(x0.defined(), "op concat: undefined input 0");
  axis = wrap_axis(axis, x0.dim(), "concat");
  int64_t total = 0;
  for (size_t t = 0; t < xs.size(); ++t) {
    const Tensor& x = xs[t];
    ENGINE_CHECK(x.defined(), "op concat: undefined input " << t);
    ENGINE_CHECK(x.dtype() == x0.dtype(),
                 "op concat: input " << t << " is " << x.header() << ", input 0 is " << x0.header());
    bool ok = x.dim() == x0.dim();
    for (int64_t d = 0; ok && d < x0.dim(); ++d) ok = d == axis || x.shape()[size_t(d)] == x0.shape()[size_t(d)];
    ENGINE_CHECK(ok, "op concat: input " << t << " " << shape_str(x.shape()) << " does not match input 0 "
                                         << shape_str(x0.shape()) << " outside axis " << axis);
    total += x.shape()[size_t(axis)];
  }
  Tensor out = Tensor::empty(with_axis(x0.shape(), axis, total), x0.dtype(), x0.device());
  if (out.numel() == 0) return out;
  AxisSplit s = split_at(x0.shape(), axis);
  ConcatAttrs a{s.outer, s.inner, {}};
  OpCall call{OpKind::CONCAT, {}, {out}, &a};
  for (const Tensor& x : xs) {
    if (x.numel() == 0) continue;  // empty pieces add nothing (and may have no storage)
    call.in.push_back(x.contiguous());
    a.sizes.push_back(x.shape()[size_t(axis)]);
  }
  dispatch(call);
  return out;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis) {
  ENGINE_CHECK(x.defined(), "op split: undefined input");
  axis = wrap_axis(axis, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    ENGINE_CHECK(s >= 0, "op split: negative size " << s << " in " << shape_str(sizes));
    total += s;
  }
  ENGINE_CHECK(total == x.shape()[size_t(axis)],
               "op split: sizes " << shape_str(sizes) << " sum to " << total << ", but axis " << axis << " of "
                                  << shape_str(x.shape()) << " has " << x.shape()[size_t(axis)]);
  std::vector<Tensor> parts;
  int64_t at = 0;
  for (int64_t s : sizes) {
    parts.push_back(x.slice(axis, at, at + s));
    at += s;
  }
  return parts;
}

DropoutOutput dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset) {
  check_float("dropout", "input", x);
  ENGINE_CHECK(p >= 0.0 && p <= 1.0, "op dropout: p = " << p << " is outside [0, 1]");
  DropoutOutput r{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty(x.shape(), DType::u8, x.device())};
  if (x.numel() == 0) return r;
  DropoutAttrs a{p, seed, offset};
  dispatch(OpCall{OpKind::DROPOUT, {x.contiguous()}, {r.y, r.mask}, &a});
  return r;
}

TopKOutput topk(const Tensor& x, int64_t k, int64_t axis, bool largest) {
  check_float("topk", "input", x);
  ENGINE_CHECK(x.dim() > 0, "op topk: a scalar has no axis to select from");
  axis = wrap_axis(axis, x.dim(), "topk");
  AxisSplit s = split_at(x.shape(), axis);
  ENGINE_CHECK(k >= 0 && k <= s.n, "op topk: k = " << k << " is outside [0, " << s.n << "] for axis " << axis << " of "
                                                   << shape_str(x.shape()));
  Shape os = with_axis(x.shape(), axis, k);
  TopKOutput r{Tensor::empty(os, x.dtype(), x.device()), Tensor::empty(os, DType::i64, x.device())};
  if (r.values.numel() == 0) return r;
  TopKAttrs a{s.outer, s.n, s.inner, k, largest};
  dispatch(OpCall{OpKind::TOPK, {x.contiguous()}, {r.values, r.indices}, &a});
  return r;
}

}  // namespace engine::ops
