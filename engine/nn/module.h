#pragma once
// Module: parameters (leaf Variables that require gradients), buffers (Tensors such
// as BatchNorm running statistics) and child modules, all named so that the full
// names match PyTorch's state_dict ("layer1.0.conv1.weight", "bn1.running_mean").
// forward() checks the input once, then calls the virtual forward_impl().
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/autograd/functions.h"

namespace engine::nn {

// What load_state_dict lets pass; by default neither (a checkpoint of another dtype or
// with NaN/inf weights is more likely a mistake or a corrupt file than a wish).
struct LoadOptions {
  bool convert_dtype = false;     // cast a tensor of another dtype to the module's
  bool allow_non_finite = false;  // load NaN/inf values
};

class Module {
 public:
  virtual ~Module() = default;
  Variable forward(const Variable& x);
  Variable operator()(const Variable& x) { return forward(x); }
  virtual std::string type_name() const = 0;

  std::vector<std::pair<std::string, Variable>> named_parameters() const;
  std::vector<Variable> parameters() const;
  // Pointers stay valid while the module lives; loading a checkpoint writes through them.
  std::vector<std::pair<std::string, Tensor*>> named_buffers();
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }
  // Parameters and buffers together, in the order of PyTorch's state_dict.
  std::vector<std::pair<std::string, Tensor>> state_dict();
  // Copies values into the module's own tensors (on their device). Unknown or missing
  // names, shape and dtype mismatches and non-finite values are errors naming the tensor.
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state, bool strict = true,
                       const LoadOptions& options = LoadOptions());

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void to(Device device);
  void zero_grad();
  // Freezing: requires_grad off (or back on) for every parameter of this module and its
  // children. A frozen parameter gets no gradient in backward (its old one is dropped)
  // and an optimizer leaves it alone.
  void set_requires_grad(bool on);
  void freeze() { set_requires_grad(false); }
  void unfreeze() { set_requires_grad(true); }
  int64_t num_parameters() const;

 protected:
  Variable& register_parameter(const std::string& name, Tensor value);
  Tensor& register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }
  virtual Variable forward_impl(const Variable& x) = 0;
  // Called by forward() before forward_impl; throws with a readable message.
  virtual void check_input(const Variable&) const {}

 private:
  void collect_parameters(const std::string& prefix, std::vector<std::pair<std::string, Variable>>* out) const;
  void collect_buffers(const std::string& prefix, std::vector<std::pair<std::string, Tensor*>>* out);
  void collect_state(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>* out);

  // unique_ptr keeps element addresses stable as more are registered.
  std::vector<std::pair<std::string, std::unique_ptr<Variable>>> params_;
  std::vector<std::pair<std::string, std::unique_ptr<Tensor>>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

using ModulePtr = std::shared_ptr<Module>;

}  // namespace engine::nn
