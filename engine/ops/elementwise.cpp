// Functional ops: elementwise family, copies, fills and random fills.
#include <algorithm>

#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"

namespace engine::ops {
namespace {

OpKind binary_kind(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return OpKind::ADD;
    case BinaryOp::Sub: return OpKind::SUB;
    case BinaryOp::Mul: return OpKind::MUL;
    case BinaryOp::Div: return OpKind::DIV;
    case BinaryOp::Pow: return OpKind::POW;
    case BinaryOp::Maximum: return OpKind::MAXIMUM;
  }
  return OpKind::ADD;
}

OpKind unary_kind(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return OpKind::NEG;
    case UnaryOp::Exp: return OpKind::EXP;
    case UnaryOp::Log: return OpKind::LOG;
    case UnaryOp::Sqrt: return OpKind::SQRT;
    case UnaryOp::Rsqrt: return OpKind::RSQRT;
    case UnaryOp::Relu: return OpKind::RELU;
    case UnaryOp::Gelu: return OpKind::GELU;
    case UnaryOp::Sigmoid: return OpKind::SIGMOID;
    case UnaryOp::Tanh: return OpKind::TANH;
    case UnaryOp::Clamp: return OpKind::CLAMP;
  }
  return OpKind::NEG;
}

void check_same_dtype(OpKind op, const Tensor& a, const Tensor& b) {
  ENGINE_CHECK(a.defined() && b.defined(), "op " << op_name(op) << ": undefined input");
  ENGINE_CHECK(a.dtype() == b.dtype(), "op " << op_name(op) << ": dtypes differ: " << a.header() << " and "
                                             << b.header() << " (cast one with .to(dtype))");
}

// Where an elementwise output lies: when every input of the output's full shape is
// dense with the same strides (channels-last in, say), the output takes those strides;
// otherwise it is row-major. The kernels write their output in row-major order, so the
// op runs on views of all operands permuted to make the output row-major.
struct ElementwiseLayout {
  Strides strides;            // the output's strides
  std::vector<int64_t> perm;  // outermost dim first; empty when row-major
};

ElementwiseLayout elementwise_layout(const Shape& s, std::initializer_list<const Tensor*> ins) {
  ElementwiseLayout l{contiguous_strides(s), {}};
  const Strides* common = nullptr;
  for (const Tensor* t : ins) {
    if (t->shape() != s) continue;  // broadcast inputs follow whatever the others choose
    if (!t->is_non_overlapping_and_dense()) return l;
    if (common && *common != t->strides()) return l;
    common = &t->strides();
  }
  if (!common || *common == l.strides) return l;
  l.strides = *common;
  l.perm.resize(s.size());
  for (size_t i = 0; i < s.size(); ++i) l.perm[i] = int64_t(i);
  std::stable_sort(l.perm.begin(), l.perm.end(),
                   [&](int64_t a, int64_t b) { return l.strides[size_t(a)] > l.strides[size_t(b)]; });
  return l;
}

Tensor permuted(const Tensor& t, const ElementwiseLayout& l) { return l.perm.empty() ? t : t.permute(l.perm); }

}  // namespace

Tensor copy(const Tensor& src, DType dtype) {
  Tensor out = Tensor::empty(src.shape(), dtype, src.device());
  if (out.numel() == 0) return out;
  dispatch(OpCall{OpKind::COPY, {src}, {out}, nullptr});
  return out;
}

void copy_into(const Tensor& dst, const Tensor& src) { Tensor(dst).copy_from(src); }

void fill(const Tensor& dst, double value) { Tensor(dst).fill_(value); }

Tensor rand_uniform(const Shape& shape, uint64_t seed, uint64_t offset, DType dtype, Device device, double lo,
                    double hi) {
  Tensor out = Tensor::empty(shape, dtype, device);
  RngAttrs a{seed, offset, lo, hi};
  if (out.numel()) dispatch(OpCall{OpKind::RNG_UNIFORM, {}, {out}, &a});
  return out;
}

Tensor randn(const Shape& shape, uint64_t seed, uint64_t offset, DType dtype, Device device, double mean,
             double stddev) {
  Tensor out = Tensor::empty(shape, dtype, device);
  RngAttrs a{seed, offset, mean, stddev};
  if (out.numel()) dispatch(OpCall{OpKind::RNG_NORMAL, {}, {out}, &a});
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  OpKind kind = binary_kind(op);
  check_same_dtype(kind, a, b);
  Shape s = broadcast_shapes(a.shape(), b.shape(), op_name(kind));
  ElementwiseLayout l = elementwise_layout(s, {&a, &b});
  Tensor out = Tensor::empty_strided(s, l.strides, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  BinaryAttrs at{op};
  dispatch(OpCall{kind, {permuted(a.expand(s), l), permuted(b.expand(s), l)}, {permuted(out, l)}, &at});
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Pow, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Maximum, a, b); }
Tensor add(const Tensor& a, double b) { return add(a, Tensor::scalar(b, a.dtype(), a.device())); }
Tensor mul(const Tensor& a, double b) { return mul(a, Tensor::scalar(b, a.dtype(), a.device())); }
Tensor pow(const Tensor& a, double b) { return pow(a, Tensor::scalar(b, a.dtype(), a.device())); }

Tensor compare(CompareOp op, const Tensor& a, const Tensor& b) {
  check_same_dtype(OpKind::COMPARE, a, b);
  Shape s = broadcast_shapes(a.shape(), b.shape(), "compare");
  ElementwiseLayout l = elementwise_layout(s, {&a, &b});
  Tensor out = Tensor::empty_strided(s, l.strides, DType::u8, a.device());
  if (out.numel() == 0) return out;
  CompareAttrs at{op};
  dispatch(OpCall{OpKind::COMPARE, {permuted(a.expand(s), l), permuted(b.expand(s), l)}, {permuted(out, l)}, &at});
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_dtype(OpKind::WHERE, a, b);
  ENGINE_CHECK(cond.dtype() == DType::u8, "op where: the condition must be u8, got " << cond.header());
  Shape s = broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), "where"), cond.shape(), "where");
  ElementwiseLayout l = elementwise_layout(s, {&cond, &a, &b});
  Tensor out = Tensor::empty_strided(s, l.strides, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  dispatch(OpCall{OpKind::WHERE,
                  {permuted(cond.expand(s), l), permuted(a.expand(s), l), permuted(b.expand(s), l)},
                  {permuted(out, l)},
                  nullptr});
  return out;
}

Tensor unary(UnaryOp op, const Tensor& x, double alpha, double beta) {
  ENGINE_CHECK(x.defined(), "op " << op_name(unary_kind(op)) << ": undefined input");
  ElementwiseLayout l = elementwise_layout(x.shape(), {&x});
  Tensor out = Tensor::empty_strided(x.shape(), l.strides, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  UnaryAttrs at{op, alpha, beta};
  dispatch(OpCall{unary_kind(op), {permuted(x, l)}, {permuted(out, l)}, &at});
  return out;
}

Tensor neg(const Tensor& x) { return unary(UnaryOp::Neg, x); }
Tensor exp(const Tensor& x) { return unary(UnaryOp::Exp, x); }
Tensor log(const Tensor& x) { return unary(UnaryOp::Log, x); }
Tensor sqrt(const Tensor& x) { return unary(UnaryOp::Sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary(UnaryOp::Rsqrt, x); }
Tensor relu(const Tensor& x) { return unary(UnaryOp::Relu, x); }
Tensor gelu(const Tensor& x) { return unary(UnaryOp::Gelu, x); }
Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::Sigmoid, x); }
Tensor tanh(const Tensor& x) { return unary(UnaryOp::Tanh, x); }
Tensor clamp(const Tensor& x, double lo, double hi) {
  ENGINE_CHECK(lo <= hi, "op clamp: lower bound " << lo << " above upper bound " << hi);
  return unary(UnaryOp::Clamp, x, lo, hi);
}

Tensor activation_bwd(ActivationKind kind, const Tensor& gy, const Tensor& v) {
  check_same_dtype(OpKind::ACTIVATION_BWD, gy, v);
  ENGINE_CHECK(gy.shape() == v.shape(), "op activation_bwd: gradient " << shape_str(gy.shape()) << " and input "
                                                                       << shape_str(v.shape()) << " differ in shape");
  // The kernel reads both inputs as flat arrays: they share the output's layout.
  ElementwiseLayout l = elementwise_layout(gy.shape(), {&gy, &v});
  Tensor out = Tensor::empty_strided(gy.shape(), l.strides, gy.dtype(), gy.device());
  if (out.numel() == 0) return out;
  ActivationBwdAttrs at{kind};
  dispatch(OpCall{
      OpKind::ACTIVATION_BWD, {permuted(gy, l).contiguous(), permuted(v, l).contiguous()}, {permuted(out, l)}, &at});
  return out;
}

}  // namespace engine::ops
