#include "engine/nn/module.h"

#include <cmath>
#include <map>

namespace engine::nn {

Variable Module::forward(const Variable& x) {
  check_input(x);
  return forward_impl(x);
}

Variable& Module::register_parameter(const std::string& name, Tensor value) {
  params_.emplace_back(name, std::make_unique<Variable>(std::move(value), true));
  params_.back().second->set_name(name);
  return *params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value) {
  buffers_.emplace_back(name, std::make_unique<Tensor>(std::move(value)));
  return *buffers_.back().second;
}

void Module::collect_parameters(const std::string& prefix, std::vector<std::pair<std::string, Variable>>* out) const {
  for (const auto& [n, p] : params_) out->emplace_back(prefix + n, *p);
  for (const auto& [n, c] : children_) c->collect_parameters(prefix + n + ".", out);
}

void Module::collect_buffers(const std::string& prefix, std::vector<std::pair<std::string, Tensor*>>* out) {
  for (auto& [n, b] : buffers_) out->emplace_back(prefix + n, b.get());
  for (auto& [n, c] : children_) c->collect_buffers(prefix + n + ".", out);
}

// PyTorch's state_dict order: a module's own parameters, then its buffers, then children.
void Module::collect_state(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>* out) {
  for (auto& [n, p] : params_) out->emplace_back(prefix + n, p->data());
  for (auto& [n, b] : buffers_) out->emplace_back(prefix + n, *b);
  for (auto& [n, c] : children_) c->collect_state(prefix + n + ".", out);
}

std::vector<std::pair<std::string, Variable>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Variable>> out;
  collect_parameters("", &out);
  return out;
}

std::vector<Variable> Module::parameters() const {
  std::vector<Variable> out;
  for (auto& [n, p] : named_parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  collect_buffers("", &out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::state_dict() {
  std::vector<std::pair<std::string, Tensor>> out;
  collect_state("", &out);
  return out;
}

namespace {
// The index of the first NaN or inf of a floating tensor, or -1.
int64_t first_non_finite(const Tensor& t) {
  if (!is_floating(t.dtype())) return -1;
  std::vector<double> v = t.to(Device::cpu()).to_vector();
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return int64_t(i);
  return -1;
}
}  // namespace

void Module::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state, bool strict,
                             const LoadOptions& options) {
  std::map<std::string, Tensor*> targets;
  for (auto& [n, p] : named_parameters()) targets[n] = &p.data();
  for (auto& [n, b] : named_buffers()) targets[n] = b;
  std::map<std::string, bool> seen;
  for (const auto& [n, t] : state) {
    auto it = targets.find(n);
    if (it == targets.end()) {
      ENGINE_CHECK(!strict, "load_state_dict: unexpected tensor '" << n << "' for a " << type_name());
      continue;
    }
    Tensor& dst = *it->second;
    ENGINE_CHECK(dst.shape() == t.shape(), "load_state_dict: tensor '" << n << "' has shape " << shape_str(t.shape())
                                                                       << ", the model expects "
                                                                       << shape_str(dst.shape()));
    ENGINE_CHECK(options.convert_dtype || t.dtype() == dst.dtype(),
                 "load_state_dict: tensor '" << n << "' is " << dtype_name(t.dtype()) << ", the model holds "
                                             << dtype_name(dst.dtype()) << " (convert_dtype casts it)");
    if (!options.allow_non_finite) {
      int64_t bad = first_non_finite(t);
      ENGINE_CHECK(bad < 0, "load_state_dict: tensor '" << n << "' holds a non-finite value at element " << bad
                                                        << ": the checkpoint is damaged (allow_non_finite loads it)");
    }
    dst.copy_from(t.to(dst.device()).to(dst.dtype()));
    seen[n] = true;
  }
  if (strict)
    for (const auto& [n, _] : targets) ENGINE_CHECK(seen.count(n), "load_state_dict: tensor '" << n << "' is missing");
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

void Module::to(Device device) {
  for (auto& [n, p] : params_) {
    p->data() = p->data().to(device);
    if (p->has_grad()) p->set_grad(p->grad().to(device));
  }
  for (auto& [n, b] : buffers_) *b = b->to(device);
  for (auto& [n, c] : children_) c->to(device);
}

void Module::zero_grad() {
  for (auto& [n, p] : named_parameters()) p.zero_grad();
}

void Module::set_requires_grad(bool on) {
  for (auto& [n, p] : named_parameters()) {
    p.set_requires_grad(on);
    if (!on) p.zero_grad();
  }
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, p] : named_parameters()) n += p.numel();
  return n;
}

}  // namespace engine::nn
