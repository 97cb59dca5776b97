// Backward rules of softmax, log-softmax and the fused cross-entropy. Each keeps
// what its backward kernel reads: the output y, or the row log-sum-exp.
#include "engine/autograd/autocast.h"
#include "engine/autograd/functions.h"

namespace engine::ag {

Variable softmax(const Variable& x_in, int64_t axis) {
  auto [x] = autocast(AutocastPolicy::Float32, x_in);
  Tensor y = ops::softmax(x.data(), axis);
  return Variable::make(y, OpKind::SOFTMAX, {x}, [y, axis](std::vector<Variable>& v, const Tensor& g) {
    if (v[0].requires_grad()) v[0].add_grad(ops::softmax_bwd(g, y, axis));
  });
}

Variable log_softmax(const Variable& x_in, int64_t axis) {
  auto [x] = autocast(AutocastPolicy::Float32, x_in);
  Tensor y = ops::log_softmax(x.data(), axis);
  return Variable::make(y, OpKind::LOG_SOFTMAX, {x}, [y, axis](std::vector<Variable>& v, const Tensor& g) {
    if (v[0].requires_grad()) v[0].add_grad(ops::log_softmax_bwd(g, y, axis));
  });
}

Variable cross_entropy(const Variable& logits_in, const Tensor& labels, double label_smoothing) {
  auto [logits] = autocast(AutocastPolicy::Float32, logits_in);
  ops::CrossEntropyOutput r = ops::cross_entropy(logits.data(), labels, label_smoothing);
  Tensor lse = r.lse;
  return Variable::make(r.loss, OpKind::CROSS_ENTROPY, {logits},
                        [labels, lse, label_smoothing](std::vector<Variable>& v, const Tensor& g) {
                          if (!v[0].requires_grad()) return;
                          v[0].add_grad(ops::cross_entropy_bwd(g, v[0].data(), labels, lse, label_smoothing));
                        });
}

}  // namespace engine::ag
