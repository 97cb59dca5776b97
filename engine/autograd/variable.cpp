#include "engine/autograd/variable.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/ops/functional.h"

namespace engine {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = prev_; }
GradModeGuard::GradModeGuard(bool enabled) : prev_(g_grad_enabled) { g_grad_enabled = enabled; }
GradModeGuard::~GradModeGuard() { g_grad_enabled = prev_; }

Variable::Variable(Tensor data, bool requires_grad) : impl_(std::make_shared<Impl>()) {
  ENGINE_CHECK(data.defined(), "Variable: undefined data tensor");
  impl_->data = std::move(data);
  impl_->requires_grad = requires_grad;
}

const Tensor& Variable::data() const {
  ENGINE_CHECK(impl_, "use of an undefined Variable");
  return impl_->data;
}
Tensor& Variable::data() {
  ENGINE_CHECK(impl_, "use of an undefined Variable");
  return impl_->data;
}
const Tensor& Variable::grad() const {
  ENGINE_CHECK(impl_, "use of an undefined Variable");
  return impl_->grad;
}

Variable& Variable::set_requires_grad(bool r) {
  ENGINE_CHECK(impl_, "use of an undefined Variable");
  impl_->requires_grad = r;
  return *this;
}

void Variable::add_grad(const Tensor& g) {
  ENGINE_CHECK(g.shape() == data().shape(),
               "add_grad" << (name().empty() ? "" : " to '" + name() + "'") << ": gradient " << shape_str(g.shape())
                          << " does not match the variable's " << shape_str(data().shape()));
  ENGINE_CHECK(g.dtype() == data().dtype(), "add_grad: gradient dtype " << dtype_name(g.dtype())
                                                                        << " differs from the variable's "
                                                                        << dtype_name(data().dtype()));
  if (!impl_->grad.defined()) {
    // A gradient laid out like the data (channels-last, say) is kept as it is.
    bool like_data = g.strides() == data().strides() && g.is_non_overlapping_and_dense();
    impl_->grad = (g.is_contiguous() || like_data) && !g.shares_storage(data()) ? g : g.clone();
  } else {
    impl_->grad = ops::add(impl_->grad, g);
  }
}

void Variable::zero_grad() {
  if (impl_) impl_->grad = Tensor();
}
void Variable::set_grad(const Tensor& g) {
  ENGINE_CHECK(impl_, "use of an undefined Variable");
  impl_->grad = g;
}

Variable Variable::make(Tensor data, OpKind op, std::vector<Variable> inputs, BackwardFn backward) {
  bool needs = false;
  if (g_grad_enabled)
    for (const Variable& v : inputs) needs = needs || v.requires_grad();
  Variable out(std::move(data), needs);
  if (needs) out.impl_->grad_fn = std::make_shared<GradFn>(GradFn{op, std::move(inputs), std::move(backward)});
  return out;
}

namespace {
// backward() calls running on this thread: a checkpoint's recomputation runs an inner one
// inside the outer's, where a parameter it captured is not complete yet (the outer graph
// lists it after the checkpoint), so leaf hooks fire from the outermost pass only.
thread_local int g_backward_depth = 0;
struct BackwardDepth {
  BackwardDepth() { ++g_backward_depth; }
  ~BackwardDepth() { --g_backward_depth; }
};
}  // namespace

void Variable::set_grad_ready_hook(std::function<void()> hook) {
  ENGINE_CHECK(defined(), "set_grad_ready_hook on an undefined variable");
  ENGINE_CHECK(is_leaf(), "set_grad_ready_hook: only a leaf has a gradient that backward() completes");
  impl_->grad_ready = std::move(hook);
}

void Variable::backward(const Tensor& grad_output, bool retain_graph) {
  ENGINE_CHECK(requires_grad(), "backward() on a variable that does not require a gradient");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    ENGINE_CHECK(numel() == 1, "backward() without a gradient needs a one-element output, got " << data().header());
    seed = Tensor::ones(shape(), dtype(), device());
  }
  // Topological order by iterative depth-first search over grad_fn inputs.
  std::vector<Variable> order;
  std::unordered_set<const void*> seen;
  std::vector<std::pair<Variable, size_t>> stack{{*this, 0}};
  seen.insert(id());
  while (!stack.empty()) {
    auto& [v, next] = stack.back();
    const auto& fn = v.impl_->grad_fn;
    if (fn && next < fn->inputs.size()) {
      const Variable& in = fn->inputs[next++];
      if (in.requires_grad() && seen.insert(in.id()).second) stack.push_back({in, 0});
    } else {
      order.push_back(v);
      stack.pop_back();
    }
  }
  add_grad(seed);
  BackwardDepth depth;
  const bool outermost = g_backward_depth == 1;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Variable& v = *it;
    auto fn = v.impl_->grad_fn;
    if (!fn) {
      // A leaf comes after every node that uses it (reverse post-order): its gradient
      // of this pass is complete.
      if (outermost && v.impl_->grad_ready && v.impl_->grad.defined()) v.impl_->grad_ready();
      continue;
    }
    Tensor g = v.impl_->grad;
    if (g.defined()) fn->backward(fn->inputs, g);
    // Non-leaf gradients are scratch: free them as soon as they have been passed on.
    v.impl_->grad = Tensor();
    if (!retain_graph) v.impl_->grad_fn.reset();
  }
}

}  // namespace engine
