// Functional ops: elementwise family, copies, fills and random fills.
#include "engine/ops/attrs.h"
#include "engine/ops/dispatch.h"
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

}  // namespace

Tensor copy(const Tensor& src, DType dtype) {
  Tensor out = Tensor::empty(src.shape(), dtype, src.device());
  if (out.numel() == 0) return out;
  dispatch(OpCall{OpKind::COPY, {src}, {out}, nullptr});
  return out;
}

void copy_into(const Tensor& dst, const Tensor& src) {
  Tensor s = src.expand(dst.shape());
  if (dst.numel() == 0) return;
  dispatch(OpCall{OpKind::COPY, {s}, {dst}, nullptr});
}

void fill(const Tensor& dst, double value) {
  if (dst.numel() == 0) return;
  FillAttrs a{value};
  dispatch(OpCall{OpKind::FILL, {}, {dst}, &a});
}

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
  Tensor out = Tensor::empty(s, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  BinaryAttrs at{op};
  dispatch(OpCall{kind, {a.expand(s), b.expand(s)}, {out}, &at});
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
  Tensor out = Tensor::empty(s, DType::u8, a.device());
  if (out.numel() == 0) return out;
  CompareAttrs at{op};
  dispatch(OpCall{OpKind::COMPARE, {a.expand(s), b.expand(s)}, {out}, &at});
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_dtype(OpKind::WHERE, a, b);
  ENGINE_CHECK(cond.dtype() == DType::u8, "op where: the condition must be u8, got " << cond.header());
  Shape s = broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), "where"), cond.shape(), "where");
  Tensor out = Tensor::empty(s, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  dispatch(OpCall{OpKind::WHERE, {cond.expand(s), a.expand(s), b.expand(s)}, {out}, nullptr});
  return out;
}

Tensor unary(UnaryOp op, const Tensor& x, double alpha, double beta) {
  ENGINE_CHECK(x.defined(), "op " << op_name(unary_kind(op)) << ": undefined input");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  UnaryAttrs at{op, alpha, beta};
  dispatch(OpCall{unary_kind(op), {x}, {out}, &at});
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
  ENGINE_CHECK(gy.shape() == v.shape(), "op activation_bwd: gradient " << shape_str(gy.shape())
                                                                        << " and input " << shape_str(v.shape())
                                                                        << " differ in shape");
  Tensor out = Tensor::empty(gy.shape(), gy.dtype(), gy.device());
  if (out.numel() == 0) return out;
  ActivationBwdAttrs at{kind};
  dispatch(OpCall{OpKind::ACTIVATION_BWD, {gy.contiguous(), v.contiguous()}, {out}, &at});
  return out;
}

}  // namespace engine::ops
