// Backward rules of the reductions.
#include "engine/autograd/autocast.h"
#include "engine/autograd/functions.h"

namespace engine::ag {
namespace {

// Shape of x with the reduced axes kept as 1 (to broadcast a reduced gradient back).
Shape kept_shape(const Shape& x, const std::vector<int64_t>& axes) {
  Shape s = x;
  if (axes.empty()) {
    for (auto& d : s) d = 1;
  } else {
    for (int64_t a : axes) s[size_t(wrap_axis(a, int64_t(x.size()), "reduce"))] = 1;
  }
  return s;
}

int64_t reduced_count(const Shape& x, const std::vector<int64_t>& axes) {
  Shape k = kept_shape(x, axes);
  return shape_numel(x) / std::max<int64_t>(shape_numel(k), 1);
}

}  // namespace

Variable sum(const Variable& x_in, const std::vector<int64_t>& axes, bool keepdim) {
  auto [x] = autocast(AutocastPolicy::Float32, x_in);
  return Variable::make(ops::sum(x.data(), axes, keepdim), OpKind::SUM, {x},
                        [axes](std::vector<Variable>& v, const Tensor& g) {
                          if (!v[0].requires_grad()) return;
                          Shape k = kept_shape(v[0].shape(), axes);
                          v[0].add_grad(g.reshape(k).expand(v[0].shape()).contiguous());
                        });
}

Variable mean(const Variable& x_in, const std::vector<int64_t>& axes, bool keepdim) {
  auto [x] = autocast(AutocastPolicy::Float32, x_in);
  return Variable::make(ops::mean(x.data(), axes, keepdim), OpKind::MEAN, {x},
                        [axes](std::vector<Variable>& v, const Tensor& g) {
                          if (!v[0].requires_grad()) return;
                          Shape k = kept_shape(v[0].shape(), axes);
                          double n = double(reduced_count(v[0].shape(), axes));
                          v[0].add_grad(ops::mul(g.reshape(k).expand(v[0].shape()).contiguous(), 1.0 / n));
                        });
}

Variable max(const Variable& x, const std::vector<int64_t>& axes, bool keepdim) {
  Tensor y = ops::max(x.data(), axes, keepdim);
  return Variable::make(y, OpKind::MAX, {x}, [axes, y](std::vector<Variable>& v, const Tensor& g) {
    if (!v[0].requires_grad()) return;
    // The gradient goes to the first maximum of each reduced group: the reduced
    // axes are flattened to one, argmax picks the first, and a one-hot mask routes g.
    const Tensor& X = v[0].data();
    std::vector<bool> is_red(size_t(X.dim()), axes.empty());
    for (int64_t a : axes) is_red[size_t(wrap_axis(a, X.dim(), "max"))] = true;
    std::vector<int64_t> kept, red;
    for (int64_t i = 0; i < X.dim(); ++i) (is_red[size_t(i)] ? red : kept).push_back(i);
    std::vector<int64_t> perm = kept;
    perm.insert(perm.end(), red.begin(), red.end());
    Shape pshape;
    int64_t outer = 1, inner = 1;
    for (int64_t i : kept) outer *= X.shape()[size_t(i)];
    for (int64_t i : red) inner *= X.shape()[size_t(i)];
    Tensor rows = X.permute(perm).contiguous().view({outer, inner});
    Tensor idx = ops::argmax(rows, 1, true);  // [outer, 1]
    Tensor grows = Tensor::zeros({outer, inner}, X.dtype(), X.device());
    Tensor grows_src = g.reshape({outer, 1});
    grows = ops::scatter_add(grows, 1, idx, grows_src);
    // Undo the permutation.
    for (int64_t i : perm) pshape.push_back(X.shape()[size_t(i)]);
    std::vector<int64_t> inv(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) inv[size_t(perm[i])] = int64_t(i);
    v[0].add_grad(grows.view(pshape).permute(inv).contiguous());
  });
}

Variable var(const Variable& x_in, const std::vector<int64_t>& axes, int64_t correction, bool keepdim) {
  auto [x] = autocast(AutocastPolicy::Float32, x_in);
  return Variable::make(ops::var(x.data(), axes, correction, keepdim), OpKind::VAR, {x},
                        [axes, correction](std::vector<Variable>& v, const Tensor& g) {
                          if (!v[0].requires_grad()) return;
                          // d var / d x_i = 2 (x_i - mean) / (n - correction)
                          const Tensor& X = v[0].data();
                          Shape k = kept_shape(X.shape(), axes);
                          double n = double(reduced_count(X.shape(), axes));
                          Tensor centered = ops::sub(X, ops::mean(X, axes, true));
                          Tensor scale = ops::mul(g.reshape(k), 2.0 / (n - double(correction)));
                          v[0].add_grad(ops::mul(centered, scale));
                        });
}

}  // namespace engine::ag
