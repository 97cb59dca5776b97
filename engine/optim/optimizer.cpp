#include "engine/optim/optimizer.h"

#include <cmath>

#include "engine/ops/functional.h"

namespace engine::optim {

namespace {
bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
}  // namespace

std::vector<ParamEntry> make_param_entries(const std::vector<std::pair<std::string, Variable>>& named,
                                           double weight_decay, bool exempt_bn_bias) {
  std::vector<ParamEntry> out;
  for (const auto& [n, p] : named) {
    // One-dimensional parameters are biases and normalisation scales/shifts.
    bool exempt = exempt_bn_bias && (p.dim() <= 1 || ends_with(n, ".bias"));
    out.push_back(ParamEntry{n, p, exempt ? 0.0 : weight_decay});
  }
  return out;
}

void Optimizer::zero_grad() {
  for (auto& e : params_) e.param.zero_grad();
}

Tensor& Optimizer::slot(size_t i, const std::string& name) {
  auto& m = state_[i];
  auto it = m.find(name);
  if (it == m.end()) {
    const Tensor& p = params_[i].param.data();
    it = m.emplace(name, Tensor::zeros(p.shape(), p.dtype(), p.device())).first;
  }
  return it->second;
}

bool Optimizer::has_slot(size_t i, const std::string& name) const { return state_[i].count(name) > 0; }

std::vector<size_t> Optimizer::with_grad() const {
  std::vector<size_t> idx;
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].param.has_grad()) idx.push_back(i);
  return idx;
}

bool Optimizer::one_group(const std::vector<size_t>& idx) const {
  if (!multi_tensor || idx.empty()) return false;
  const Tensor& first = params_[idx[0]].param.data();
  for (size_t i : idx) {
    const Tensor &p = params_[i].param.data(), &g = params_[i].param.grad();
    if (p.device() != first.device() || p.dtype() != first.dtype() || !p.is_contiguous() || g.dtype() != p.dtype())
      return false;
  }
  return true;
}

std::vector<std::pair<std::string, Tensor>> Optimizer::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t i = 0; i < params_.size(); ++i)
    for (const auto& [slot_name, t] : state_[i]) out.emplace_back(params_[i].name + "." + slot_name, t);
  return out;
}

void Optimizer::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state, int64_t steps) {
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [n, t] : state) by_name[n] = &t;
  for (auto& m : state_) m.clear();
  size_t used = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    std::string prefix = params_[i].name + ".";
    for (const auto& [n, t] : by_name) {
      if (n.compare(0, prefix.size(), prefix) != 0) continue;
      std::string slot_name = n.substr(prefix.size());
      if (slot_name.find('.') != std::string::npos) continue;  // belongs to a longer parameter name
      const Tensor& p = params_[i].param.data();
      ENGINE_CHECK(t->shape() == p.shape(), "optimizer state '" << n << "' has shape " << shape_str(t->shape())
                                                                << ", parameter has " << shape_str(p.shape()));
      state_[i][slot_name] = t->to(p.device()).to(p.dtype()).clone();
      ++used;
    }
  }
  ENGINE_CHECK(used == state.size(),
               "optimizer state: " << state.size() - used << " tensors match no parameter of this model");
  steps_ = steps;
}

void Optimizer::to(Device device) {
  for (auto& m : state_)
    for (auto& [n, t] : m) t = t.to(device);
}

SGD::SGD(std::vector<ParamEntry> params, const SgdOptions& o) : Optimizer(std::move(params)), options(o) {
  ENGINE_CHECK(o.lr > 0, "SGD: lr must be > 0, got " << o.lr);
  ENGINE_CHECK(o.momentum >= 0, "SGD: momentum must be >= 0, got " << o.momentum);
  ENGINE_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
               "SGD: Nesterov needs momentum > 0 and no dampening");
  lr_ = o.lr;
}

void SGD::step() {
  NoGradGuard ng;
  std::vector<size_t> idx = with_grad();
  const bool momentum = options.momentum != 0;
  if (one_group(idx)) {
    std::vector<Tensor> ps, gs, bufs;
    std::vector<double> wd;
    std::vector<bool> first;
    for (size_t i : idx) {
      first.push_back(momentum && !has_slot(i, "momentum_buffer"));
      if (momentum) bufs.push_back(slot(i, "momentum_buffer"));
      ps.push_back(params_[i].param.data());
      gs.push_back(params_[i].param.grad().contiguous());
      wd.push_back(params_[i].weight_decay);
    }
    ops::sgd_step_multi(ps, gs, bufs, lr_, options.momentum, options.dampening, wd, options.nesterov, first);
  } else {
    for (size_t i : idx) {
      Variable& p = params_[i].param;
      bool first = momentum && !has_slot(i, "momentum_buffer");
      Tensor buf = momentum ? slot(i, "momentum_buffer") : Tensor();
      ops::sgd_step(p.data(), p.grad().contiguous(), buf, lr_, options.momentum, options.dampening,
                    params_[i].weight_decay, options.nesterov, first);
    }
  }
  ++steps_;
}

AdamW::AdamW(std::vector<ParamEntry> params, const AdamWOptions& o) : Optimizer(std::move(params)), options(o) {
  ENGINE_CHECK(o.lr > 0, "AdamW: lr must be > 0, got " << o.lr);
  ENGINE_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "AdamW: betas must be in [0, 1)");
  lr_ = o.lr;
}

void AdamW::step() {
  NoGradGuard ng;
  ++steps_;
  std::vector<size_t> idx = with_grad();
  if (one_group(idx)) {
    std::vector<Tensor> ps, gs, ms, vs;
    std::vector<double> wd;
    for (size_t i : idx) {
      ps.push_back(params_[i].param.data());
      gs.push_back(params_[i].param.grad().contiguous());
      ms.push_back(slot(i, "exp_avg"));
      vs.push_back(slot(i, "exp_avg_sq"));
      wd.push_back(params_[i].weight_decay);
    }
    ops::adamw_step_multi(ps, gs, ms, vs, lr_, options.beta1, options.beta2, options.eps, wd, steps_);
    return;
  }
  for (size_t i : idx) {
    Variable& p = params_[i].param;
    ops::adamw_step(p.data(), p.grad().contiguous(), slot(i, "exp_avg"), slot(i, "exp_avg_sq"), lr_, options.beta1,
                    options.beta2, options.eps, params_[i].weight_decay, steps_);
  }
}

double clip_grad_norm(const std::vector<Variable>& params, double max_norm) {
  NoGradGuard ng;
  // One multi-tensor reduction (accumulated in f64) when the gradients share a device and
  // dtype; a sum per gradient otherwise.
  std::vector<Tensor> grads;
  bool grouped = true;
  for (const Variable& p : params)
    if (p.has_grad()) {
      grads.push_back(p.grad());
      grouped = grouped && grads.back().device() == grads[0].device() && grads.back().dtype() == grads[0].dtype();
    }
  double total = 0;
  if (grouped && !grads.empty()) {
    total = ops::sum_squares_multi(grads).item();
  } else {
    for (const Tensor& g : grads) total += ops::sum(ops::mul(g, g)).item();
  }
  double norm = std::sqrt(total);
  if (std::isfinite(norm) && norm > max_norm && norm > 0) {
    double s = max_norm / (norm + 1e-6);
    for (const Variable& p : params)
      if (p.has_grad()) const_cast<Variable&>(p).set_grad(ops::mul(p.grad(), s));
  }
  return norm;
}

}  // namespace engine::optim
