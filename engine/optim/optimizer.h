#pragma once
// Optimizers over a list of parameters. Each parameter has its own weight decay
// (so BatchNorm scales and biases can be exempt) and per-parameter state tensors
// that are saved with a checkpoint so that a resumed run continues exactly.
#include <map>
#include <string>
#include <vector>

#include "engine/autograd/variable.h"

namespace engine::optim {

struct ParamEntry {
  std::string name;
  Variable param;
  double weight_decay = 0.0;
};

// Parameters named "*.bias" or belonging to BatchNorm ("bn", "downsample.1") get
// weight decay 0 when exempt_bn_bias is set; others get `weight_decay`.
std::vector<ParamEntry> make_param_entries(const std::vector<std::pair<std::string, Variable>>& named,
                                           double weight_decay, bool exempt_bn_bias);

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamEntry> params) : params_(std::move(params)) {}
  virtual ~Optimizer() = default;
  // Applies one update with the current learning rate; parameters without a
  // gradient are skipped. Runs without recording a graph.
  virtual void step() = 0;
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  int64_t steps() const { return steps_; }
  const std::vector<ParamEntry>& params() const { return params_; }
  // Update all parameters that have a gradient with one multi-tensor op (one kernel
  // launch on CUDA) when they share a device and dtype; per-tensor ops otherwise or when
  // switched off. Both give the same results.
  bool multi_tensor = true;

  // State for checkpoints: "<param name>.<slot>" -> tensor, plus the step count.
  std::vector<std::pair<std::string, Tensor>> state_dict() const;
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state, int64_t steps);
  void to(Device device);

 protected:
  Tensor& slot(size_t i, const std::string& name);  // zero-initialised on first use
  // Indices of the parameters with a gradient, and whether they form one group for a
  // multi-tensor op (multi_tensor on, one device and dtype, contiguous).
  std::vector<size_t> with_grad() const;
  bool one_group(const std::vector<size_t>& idx) const;
  bool has_slot(size_t i, const std::string& name) const;
  std::vector<ParamEntry> params_;
  std::vector<std::map<std::string, Tensor>> state_ = std::vector<std::map<std::string, Tensor>>(params_.size());
  double lr_ = 0.0;
  int64_t steps_ = 0;
};

struct SgdOptions {
  double lr = 0.1, momentum = 0.9, dampening = 0.0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamEntry> params, const SgdOptions& o);
  void step() override;
  SgdOptions options;
};

struct AdamWOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<ParamEntry> params, const AdamWOptions& o);
  void step() override;
  AdamWOptions options;
};

// Scales all gradients so that their global L2 norm is at most max_norm; returns the
// norm before clipping.
double clip_grad_norm(const std::vector<Variable>& params, double max_norm);

}  // namespace engine::optim
