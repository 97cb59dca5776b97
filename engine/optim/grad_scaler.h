#pragma once
// Dynamic loss scaling for f16 training. f16 gradients underflow below ~6e-8; the
// loss is multiplied by a large scale before backward so that they stay representable,
// and the parameter gradients are divided by it again before the optimizer step.
// One AMP_UNSCALE op per step unscales every gradient and raises a device flag on
// inf/NaN (read once per step, not per tensor). A step with inf/NaN is skipped and
// the scale backs off; after growth_interval good steps in a row it grows.
#include <string>
#include <utility>
#include <vector>

#include "engine/optim/optimizer.h"

namespace engine::optim {

struct GradScalerOptions {
  double init_scale = 65536.0;  // 2^16
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  bool enabled = true;  // disabled: scale() and unscale() are identities, step() always steps
};

class GradScaler {
 public:
  explicit GradScaler(const GradScalerOptions& o = GradScalerOptions());

  // loss * scale (differentiable); the loss itself when disabled.
  Variable scale(const Variable& loss) const;
  // Divides the gradients of the optimizer's parameters by the scale in place (once
  // per step; a second call before step() does nothing) and returns whether any is
  // inf or NaN. Call it before clipping gradients.
  bool unscale(Optimizer& opt);
  // Unscales (unless done already), then runs opt.step() when every gradient is finite
  // and updates the scale. Returns true when the optimizer stepped.
  bool step(Optimizer& opt);

  double get_scale() const { return scale_; }
  int64_t growth_tracker() const { return growth_tracker_; }  // good steps since the last change
  int64_t skipped_steps() const { return skipped_; }          // steps skipped since the start
  bool enabled() const { return o_.enabled; }
  const GradScalerOptions& options() const { return o_; }

  // Checkpoint entries "grad_scaler.scale", "grad_scaler.growth_tracker",
  // "grad_scaler.skipped_steps" (f64 scalars): saved beside the optimizer state.
  std::vector<std::pair<std::string, Tensor>> state_dict() const;
  // Takes this scaler's entries out of `state` (the rest is the optimizer's); a state
  // without them (a checkpoint written without loss scaling) leaves the scaler as is.
  void load_state_dict(std::vector<std::pair<std::string, Tensor>>& state);

 private:
  GradScalerOptions o_;
  double scale_;
  int64_t growth_tracker_ = 0, skipped_ = 0;
  bool unscaled_ = false, found_inf_ = false;
};

}  // namespace engine::optim
