#include "engine/optim/grad_scaler.h"

#include "engine/autograd/functions.h"

namespace engine::optim {

GradScaler::GradScaler(const GradScalerOptions& o) : o_(o), scale_(o.init_scale) {
  ENGINE_CHECK(o.init_scale > 0, "GradScaler: init_scale must be > 0, got " << o.init_scale);
  ENGINE_CHECK(o.growth_factor > 1, "GradScaler: growth_factor must be > 1, got " << o.growth_factor);
  ENGINE_CHECK(o.backoff_factor > 0 && o.backoff_factor < 1,
               "GradScaler: backoff_factor must be in (0, 1), got " << o.backoff_factor);
  ENGINE_CHECK(o.growth_interval >= 1, "GradScaler: growth_interval must be >= 1, got " << o.growth_interval);
}

Variable GradScaler::scale(const Variable& loss) const {
  if (!o_.enabled) return loss;
  return ag::mul(loss, scale_);
}

bool GradScaler::unscale(Optimizer& opt) {
  if (!o_.enabled || unscaled_) return found_inf_;
  // One flag per device the gradients live on; every device's flag is read once.
  std::vector<std::pair<Device, std::vector<Tensor>>> by_device;
  for (const ParamEntry& e : opt.params()) {
    if (!e.param.has_grad()) continue;
    Variable p = e.param;
    // The op unscales flat buffers: a strided gradient is replaced by a contiguous copy.
    if (!p.grad().is_contiguous()) p.set_grad(p.grad().contiguous());
    const Tensor& g = p.grad();
    auto it = by_device.begin();
    while (it != by_device.end() && !(it->first == g.device())) ++it;
    if (it == by_device.end()) it = by_device.insert(it, {g.device(), {}});
    it->second.push_back(g);
  }
  found_inf_ = false;
  for (auto& [dev, grads] : by_device) {
    Tensor flag = Tensor::zeros({1}, DType::f32, dev);
    ops::amp_unscale_(grads, flag, 1.0 / scale_);
    found_inf_ = found_inf_ || flag.item() != 0.0;
  }
  unscaled_ = true;
  return found_inf_;
}

bool GradScaler::step(Optimizer& opt) {
  if (!o_.enabled) {
    opt.step();
    return true;
  }
  bool found = unscale(opt);
  unscaled_ = false;
  found_inf_ = false;
  if (found) {
    scale_ *= o_.backoff_factor;
    growth_tracker_ = 0;
    ++skipped_;
    return false;
  }
  opt.step();
  if (++growth_tracker_ >= o_.growth_interval) {
    scale_ *= o_.growth_factor;
    growth_tracker_ = 0;
  }
  return true;
}

std::vector<std::pair<std::string, Tensor>> GradScaler::state_dict() const {
  return {{"grad_scaler.scale", Tensor::scalar(scale_, DType::f64)},
          {"grad_scaler.growth_tracker", Tensor::scalar(double(growth_tracker_), DType::f64)},
          {"grad_scaler.skipped_steps", Tensor::scalar(double(skipped_), DType::f64)}};
}

void GradScaler::load_state_dict(std::vector<std::pair<std::string, Tensor>>& state) {
  std::vector<std::pair<std::string, Tensor>> rest;
  for (auto& [name, t] : state) {
    if (name == "grad_scaler.scale") {
      scale_ = t.item();
      ENGINE_CHECK(scale_ > 0, "GradScaler: checkpoint scale must be > 0, got " << scale_);
    } else if (name == "grad_scaler.growth_tracker") {
      growth_tracker_ = int64_t(t.item());
    } else if (name == "grad_scaler.skipped_steps") {
      skipped_ = int64_t(t.item());
    } else {
      rest.emplace_back(name, t);
    }
  }
  state = std::move(rest);
  unscaled_ = found_inf_ = false;
}

}  // namespace engine::optim
