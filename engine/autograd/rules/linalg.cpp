// Backward rules of the linear-algebra family. For y = a b: ga = g b^T, gb = a^T g,
// summed back over broadcast batch dims. Transposes are views: the GEMM reads them
// in place.
#include "engine/autograd/autocast.h"
#include "engine/autograd/functions.h"

namespace engine::ag {
namespace {

void give(Variable& v, const Tensor& g) {
  if (v.requires_grad()) v.add_grad(g.shape() == v.shape() ? g : ops::sum_to(g, v.shape()));
}

}  // namespace

Variable matmul(const Variable& a_in, const Variable& b_in) {
  auto [a, b] = autocast(AutocastPolicy::LowPrecision, a_in, b_in);
  if (a.dim() == 1 || b.dim() == 1) {
    // numpy: promote the vector to a matrix, multiply, drop the unit dim again.
    Variable a2 = a.dim() == 1 ? reshape(a, {1, a.size(0)}) : a;
    Variable b2 = b.dim() == 1 ? reshape(b, {b.size(0), 1}) : b;
    Variable y = matmul(a2, b2);
    Shape s(y.shape().begin(), y.shape().end() - 2);
    if (a.dim() > 1) s.push_back(y.size(-2));
    if (b.dim() > 1) s.push_back(y.size(-1));
    return reshape(y, s);
  }
  return Variable::make(ops::matmul(a.data(), b.data()), OpKind::MATMUL, {a, b},
                        [](std::vector<Variable>& v, const Tensor& g) {
                          const Tensor &A = v[0].data(), &B = v[1].data();
                          if (v[0].requires_grad()) give(v[0], ops::matmul(g, B.transpose(-2, -1)));
                          if (!v[1].requires_grad()) return;
                          if (B.dim() == 2 && A.dim() > 2) {
                            // A matrix shared by a batch: fold the batch into one GEMM
                            // instead of a batch of products summed afterwards.
                            const int64_t K = A.size(-1), N = g.size(-1);
                            give(v[1], ops::matmul(A.reshape({-1, K}).transpose(0, 1), g.reshape({-1, N})));
                          } else {
                            give(v[1], ops::matmul(A.transpose(-2, -1), g));
                          }
                        });
}

Variable linear(const Variable& x_in, const Variable& w_in, const Variable& bias_in) {
  auto [x, w, bias] = autocast(AutocastPolicy::LowPrecision, x_in, w_in, bias_in);
  Tensor b = bias.defined() ? bias.data() : Tensor();
  return Variable::make(ops::linear(x.data(), w.data(), b), OpKind::LINEAR, {x, w, bias},
                        [](std::vector<Variable>& v, const Tensor& g) {
                          if (v[0].requires_grad()) v[0].add_grad(ops::matmul(g, v[1].data()));
                          if (v[1].requires_grad()) v[1].add_grad(ops::matmul(g.transpose(0, 1), v[0].data()));
                          if (v[2].requires_grad()) v[2].add_grad(ops::sum(g, {0}));
                        });
}

}  // namespace engine::ag
