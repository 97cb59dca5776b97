// Backward rules of the indexing family. Gather and scatter-add are each other's
// adjoints, as are index-select and index-add; top-k routes its gradient back with a
// scatter-add over the selected indices; concat hands each input its slice.
#include "engine/autograd/functions.h"

namespace engine::ag {

Variable gather(const Variable& x, int64_t axis, const Tensor& index) {
  return Variable::make(ops::gather(x.data(), axis, index), OpKind::GATHER, {x},
                        [axis, index](std::vector<Variable>& v, const Tensor& g) {
                          if (!v[0].requires_grad()) return;
                          Tensor zeros = Tensor::zeros(v[0].shape(), g.dtype(), g.device());
                          v[0].add_grad(ops::scatter_add(zeros, axis, index, g));
                        });
}

Variable scatter_add(const Variable& base, int64_t axis, const Tensor& index, const Variable& src) {
  return Variable::make(ops::scatter_add(base.data(), axis, index, src.data()), OpKind::SCATTER_ADD, {base, src},
                        [axis, index](std::vector<Variable>& v, const Tensor& g) {
                          if (v[0].requires_grad()) v[0].add_grad(g);
                          if (v[1].requires_grad()) v[1].add_grad(ops::gather(g, axis, index));
                        });
}

Variable index_select(const Variable& x, int64_t axis, const Tensor& index) {
  return Variable::make(ops::index_select(x.data(), axis, index), OpKind::INDEX_SELECT, {x},
                        [axis, index](std::vector<Variable>& v, const Tensor& g) {
                          if (!v[0].requires_grad()) return;
                          Tensor zeros = Tensor::zeros(v[0].shape(), g.dtype(), g.device());
                          v[0].add_grad(ops::index_add(zeros, axis, index, g));
                        });
}

Variable index_add(const Variable& base, int64_t axis, const Tensor& index, const Variable& src) {
  return Variable::make(ops::index_add(base.data(), axis, index, src.data()), OpKind::INDEX_ADD, {base, src},
                        [axis, index](std::vector<Variable>& v, const Tensor& g) {
                          if (v[0].requires_grad()) v[0].add_grad(g);
                          if (v[1].requires_grad()) v[1].add_grad(ops::index_select(g, axis, index));
                        });
}

Variable concat(const std::vector<Variable>& xs, int64_t axis) {
  std::vector<Tensor> data;
  for (const Variable& x : xs) data.push_back(x.data());
  Tensor y = ops::concat(data, axis);
  int64_t ax = wrap_axis(axis, y.dim(), "concat");
  return Variable::make(y, OpKind::CONCAT, xs, [ax](std::vector<Variable>& v, const Tensor& g) {
    int64_t at = 0;
    for (Variable& x : v) {
      int64_t n = x.shape()[size_t(ax)];
      if (x.requires_grad()) x.add_grad(g.slice(ax, at, at + n).contiguous());
      at += n;
    }
  });
}

std::vector<Variable> split(const Variable& x, const std::vector<int64_t>& sizes, int64_t axis) {
  // ops::split validates the sizes; the pieces are differentiable slices.
  std::vector<Tensor> parts = ops::split(x.data(), sizes, axis);
  int64_t ax = wrap_axis(axis, x.dim(), "split");
  std::vector<Variable> out;
  int64_t at = 0;
  for (const Tensor& p : parts) {
    int64_t n = p.shape()[size_t(ax)];
    out.push_back(slice(x, ax, at, at + n));
    at += n;
  }
  return out;
}

Variable dropout(const Variable& x, double p, bool training, uint64_t seed, uint64_t offset) {
  if (!training || p == 0.0) return x;
  ops::DropoutOutput r = ops::dropout(x.data(), p, seed, offset);
  double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
  Tensor mask = r.mask;
  return Variable::make(r.y, OpKind::DROPOUT, {x}, [mask, scale](std::vector<Variable>& v, const Tensor& g) {
    if (v[0].requires_grad()) v[0].add_grad(ops::mul(ops::mul(g, ops::copy(mask, g.dtype())), scale));
  });
}

TopK topk(const Variable& x, int64_t k, int64_t axis, bool largest) {
  ops::TopKOutput r = ops::topk(x.data(), k, axis, largest);
  Tensor indices = r.indices;
  Variable values =
      Variable::make(r.values, OpKind::TOPK, {x}, [axis, indices](std::vector<Variable>& v, const Tensor& g) {
        if (!v[0].requires_grad()) return;
        Tensor zeros = Tensor::zeros(v[0].shape(), g.dtype(), g.device());
        v[0].add_grad(ops::scatter_add(zeros, axis, indices, g));
      });
  return TopK{values, r.indices};
}

}  // namespace engine::ag
