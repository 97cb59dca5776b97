#pragma once
// Reverse-mode autograd, define-by-run. A Variable holds a Tensor (its data), an
// accumulated gradient and, when it was computed from variables that require
// gradients, the GradFn that made it. backward() sorts the graph topologically and
// walks it in reverse, calling each GradFn once with the summed output gradient.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/op_kind.h"
#include "engine/core/tensor.h"

namespace engine {

class Variable;

// Adds the gradients of one op's output with respect to its inputs. It receives
// the inputs and the output gradient and calls inputs[i].add_grad(...) for the
// inputs that require one.
using BackwardFn = std::function<void(std::vector<Variable>& inputs, const Tensor& grad_output)>;

struct GradFn {
  OpKind op;
  std::vector<Variable> inputs;
  BackwardFn backward;
};

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor data, bool requires_grad = false);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& data() const;
  Tensor& data();
  const Tensor& grad() const;  // undefined until a gradient arrived
  bool has_grad() const { return defined() && impl_->grad.defined(); }
  bool requires_grad() const { return defined() && impl_->requires_grad; }
  Variable& set_requires_grad(bool r);
  bool is_leaf() const { return !impl_ || !impl_->grad_fn; }
  const std::shared_ptr<GradFn>& grad_fn() const { return impl_->grad_fn; }

  // Accumulates: grad += g (shapes and dtypes must match; the first call copies).
  void add_grad(const Tensor& g);
  void zero_grad();  // drops the gradient
  void set_grad(const Tensor& g);

  // Runs backward from this variable. With no argument the variable must hold one
  // element and the seed gradient is 1. The graph is freed unless retain_graph.
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false);

  // A leaf's hook, called by backward() as soon as the leaf's gradient of that pass is
  // complete (every op that used the leaf has passed its gradient on), while the rest of
  // the graph is still to run; a leaf no gradient reached gets no call. Data parallel
  // training starts summing gradients over the ranks from here. An empty function
  // removes it.
  void set_grad_ready_hook(std::function<void()> hook);

  Variable detach() const { return Variable(impl_->data, false); }
  const Shape& shape() const { return data().shape(); }
  int64_t dim() const { return data().dim(); }
  int64_t size(int64_t d) const { return data().size(d); }
  DType dtype() const { return data().dtype(); }
  Device device() const { return data().device(); }
  int64_t numel() const { return data().numel(); }
  double item() const { return data().item(); }

  const std::string& name() const { return impl_->name; }
  void set_name(const std::string& n) { impl_->name = n; }
  // Identity of the underlying node (for graph walks and tests).
  const void* id() const { return impl_.get(); }

  // Internal: builds a non-leaf variable. Used by the functions in functions.h.
  static Variable make(Tensor data, OpKind op, std::vector<Variable> inputs, BackwardFn backward);

 private:
  struct Impl {
    Tensor data;
    Tensor grad;
    bool requires_grad = false;
    std::shared_ptr<GradFn> grad_fn;
    std::string name;
    std::function<void()> grad_ready;
  };
  std::shared_ptr<Impl> impl_;
};

// Gradient mode: under a NoGradGuard no graph is recorded (evaluation, optimizer steps).
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// Sets the gradient mode for its scope, whatever it was outside (checkpointing records
// its recomputation inside a backward pass).
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled);
  ~GradModeGuard();
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace engine
