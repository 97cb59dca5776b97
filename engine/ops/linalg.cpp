// Functional linear algebra: matmul (numpy semantics) and linear. Operands reach the
// GEMM kernel without a copy when BLAS can read them as they are: a row-major or
// transposed matrix view (as made by transpose()) with one stride across the batch.
#include <algorithm>

#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"

namespace engine::ops {
namespace {

struct Operand {
  Tensor t;
  bool trans = false;
  int64_t ld = 0, stride = 0;
};

// The last two dims of t as a BLAS matrix: row-major (trans = false) or the transpose
// of a row-major matrix, with its leading dimension.
bool matrix_layout(const Tensor& t, bool& trans, int64_t& ld) {
  const size_t n = size_t(t.dim());
  const int64_t rows = t.shape()[n - 2], cols = t.shape()[n - 1];
  const int64_t s0 = t.strides()[n - 2], s1 = t.strides()[n - 1];
  if ((s1 == 1 || cols == 1) && (rows == 1 || s0 >= std::max<int64_t>(cols, 1))) {
    trans = false;
    ld = rows == 1 ? std::max<int64_t>(cols, 1) : s0;
    return true;
  }
  if ((s0 == 1 || rows == 1) && (cols == 1 || s1 >= std::max<int64_t>(rows, 1))) {
    trans = true;
    ld = cols == 1 ? std::max<int64_t>(rows, 1) : s1;
    return true;
  }
  return false;
}

// The leading (batch) dims of t when matrix i sits at i * stride (0: broadcast).
bool batch_stride(const Tensor& t, int64_t& stride) {
  stride = 0;
  int64_t span = 1;
  bool first = true;
  for (int64_t d = t.dim() - 3; d >= 0; --d) {
    const int64_t size = t.shape()[size_t(d)], st = t.strides()[size_t(d)];
    if (size == 1) continue;
    if (first) {
      stride = st;
      first = false;
    } else if (st != stride * span) {
      return false;
    }
    span *= size;
  }
  return true;
}

Operand operand(const Tensor& t) {
  Operand o{t};
  if (matrix_layout(t, o.trans, o.ld) && batch_stride(t, o.stride)) return o;
  o.t = t.contiguous();
  matrix_layout(o.t, o.trans, o.ld);
  batch_stride(o.t, o.stride);
  return o;
}

void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  ENGINE_CHECK(a.defined() && b.defined(), "op " << op << ": undefined input");
  ENGINE_CHECK(a.dtype() == b.dtype(), "op " << op << ": dtypes differ: " << a.header() << " and " << b.header());
}

}  // namespace

Tensor matmul(const Tensor& a0, const Tensor& b0) {
  check_pair("matmul", a0, b0);
  ENGINE_CHECK(a0.dim() >= 1 && b0.dim() >= 1, "op matmul: operands need at least one dim, got a "
                                                   << shape_str(a0.shape()) << " and b " << shape_str(b0.shape()));
  // numpy: a 1-D a is a row vector, a 1-D b a column vector; their unit dims are dropped.
  const Tensor a = a0.dim() == 1 ? a0.unsqueeze(0) : a0;
  const Tensor b = b0.dim() == 1 ? b0.unsqueeze(1) : b0;
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  ENGINE_CHECK(b.size(-2) == K,
               "op matmul: inner dimensions differ: a " << shape_str(a0.shape()) << " x b " << shape_str(b0.shape()));
  const Shape batch = broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                       Shape(b.shape().begin(), b.shape().end() - 2), "matmul");
  Shape out_shape = batch, final_shape = batch;
  out_shape.insert(out_shape.end(), {M, N});
  if (a0.dim() > 1) final_shape.push_back(M);
  if (b0.dim() > 1) final_shape.push_back(N);
  Tensor y = Tensor::empty(out_shape, a.dtype(), a.device());
  if (y.numel() == 0) return y.view(final_shape);
  if (K == 0) {
    fill(y, 0.0);
    return y.view(final_shape);
  }
  Shape sa = batch, sb = batch;
  sa.insert(sa.end(), {M, K});
  sb.insert(sb.end(), {K, N});
  const Operand A = operand(a.expand(sa)), B = operand(b.expand(sb));
  MatmulAttrs at;
  at.p.batch = shape_numel(batch);
  at.p.M = M;
  at.p.K = K;
  at.p.N = N;
  at.p.trans_a = A.trans;
  at.p.trans_b = B.trans;
  at.p.lda = A.ld;
  at.p.ldb = B.ld;
  at.p.stride_a = A.stride;
  at.p.stride_b = B.stride;
  dispatch(OpCall{OpKind::MATMUL, {A.t, B.t}, {y}, &at});
  return y.view(final_shape);
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  check_pair("linear", x, w);
  ENGINE_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1),
               "op linear: expected x [N, in] and w [out, in], got x " << shape_str(x.shape()) << " and w "
                                                                       << shape_str(w.shape()));
  if (bias.defined()) {
    check_pair("linear", x, bias);
    ENGINE_CHECK(bias.dim() == 1 && bias.size(0) == w.size(0), "op linear: bias must be [out], got bias "
                                                                   << shape_str(bias.shape()) << " for w "
                                                                   << shape_str(w.shape()));
  }
  Tensor y = Tensor::empty({x.size(0), w.size(0)}, x.dtype(), x.device());
  if (y.numel() == 0) return y;
  dispatch(OpCall{
      OpKind::LINEAR, {x.contiguous(), w.contiguous(), bias.defined() ? bias.contiguous() : Tensor()}, {y}, nullptr});
  return y;
}

}  // namespace engine::ops
