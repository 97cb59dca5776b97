// Backward rules of the views and of copy/cast.
#include "engine/autograd/functions.h"

namespace engine::ag {

Variable reshape(const Variable& x, const Shape& shape) {
  Shape in = x.shape();
  return Variable::make(x.data().reshape(shape), OpKind::RESHAPE, {x}, [in](std::vector<Variable>& v, const Tensor& g) {
    if (v[0].requires_grad()) v[0].add_grad(g.reshape(in));
  });
}

Variable flatten(const Variable& x, int64_t start_dim) {
  Tensor f = x.data().flatten(start_dim);
  return reshape(x, f.shape());
}

Variable permute(const Variable& x, const std::vector<int64_t>& dims) {
  Tensor y = x.data().permute(dims);
  std::vector<int64_t> inv(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inv[size_t(wrap_axis(dims[i], x.dim(), "permute"))] = int64_t(i);
  return Variable::make(y, OpKind::PERMUTE, {x}, [inv](std::vector<Variable>& v, const Tensor& g) {
    if (v[0].requires_grad()) v[0].add_grad(g.permute(inv).contiguous());
  });
}

Variable transpose(const Variable& x, int64_t d0, int64_t d1) {
  std::vector<int64_t> p(size_t(x.dim()));
  for (int64_t i = 0; i < x.dim(); ++i) p[size_t(i)] = i;
  std::swap(p[size_t(wrap_axis(d0, x.dim(), "transpose"))], p[size_t(wrap_axis(d1, x.dim(), "transpose"))]);
  return permute(x, p);
}

Variable slice(const Variable& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  Tensor y = x.data().slice(dim, start, end, step);
  return Variable::make(y, OpKind::SLICE, {x}, [=](std::vector<Variable>& v, const Tensor& g) {
    if (!v[0].requires_grad()) return;
    Tensor gx = Tensor::zeros(v[0].shape(), g.dtype(), g.device());
    gx.slice(dim, start, end, step).copy_from(g);
    v[0].add_grad(gx);
  });
}

Variable expand(const Variable& x, const Shape& shape) {
  return Variable::make(x.data().expand(shape), OpKind::EXPAND, {x}, [](std::vector<Variable>& v, const Tensor& g) {
    if (v[0].requires_grad()) v[0].add_grad(ops::sum_to(g, v[0].shape()));
  });
}

Variable contiguous(const Variable& x) {
  if (x.data().is_contiguous()) return x;
  return Variable::make(x.data().contiguous(), OpKind::COPY, {x}, [](std::vector<Variable>& v, const Tensor& g) {
    if (v[0].requires_grad()) v[0].add_grad(g);
  });
}

Variable contiguous(const Variable& x, MemoryFormat format) {
  Tensor y = x.data().contiguous(format);
  if (y.shares_storage(x.data())) return x;
  return Variable::make(y, OpKind::COPY, {x}, [](std::vector<Variable>& v, const Tensor& g) {
    if (v[0].requires_grad()) v[0].add_grad(g);
  });
}

// A cast keeps channels-last (Tensor::to does), so autocast does not undo the format.
Variable cast(const Variable& x, DType dtype) {
  Tensor y = x.dtype() == dtype ? ops::copy(x.data(), dtype) : x.data().to(dtype);
  return Variable::make(y, OpKind::COPY, {x}, [](std::vector<Variable>& v, const Tensor& g) {
    if (v[0].requires_grad()) v[0].add_grad(g.to(v[0].dtype()));
  });
}

}  // namespace engine::ag
