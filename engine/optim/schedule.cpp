#include "engine/optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"

namespace engine::optim {

namespace {
constexpr double kPi = 3.14159265358979323846;
double cos_interp(double from, double to, double t) { return to + (from - to) * 0.5 * (1 + std::cos(kPi * t)); }
}  // namespace

void validate_schedule(const ScheduleOptions& o) {
  ENGINE_CHECK(o.kind == "constant" || o.kind == "step" || o.kind == "cosine" || o.kind == "onecycle",
               "schedule '" << o.kind << "': expected constant, step, cosine or onecycle");
  ENGINE_CHECK(o.base_lr > 0, "schedule: lr must be > 0, got " << o.base_lr);
  ENGINE_CHECK(o.total_steps >= 1, "schedule: total steps must be >= 1");
  ENGINE_CHECK(o.warmup_steps >= 0 && o.warmup_steps <= o.total_steps,
               "schedule: warmup steps " << o.warmup_steps << " outside [0, " << o.total_steps << "]");
}

double learning_rate(const ScheduleOptions& o, int64_t step) {
  double base = o.base_lr;
  if (o.kind == "onecycle") {
    double up = std::max(1.0, o.onecycle_pct_start * double(o.total_steps));
    double s = double(step);
    double lo = base / o.onecycle_div, end = base / o.onecycle_final_div;
    if (s < up) return cos_interp(lo, base, s / up);
    double t = std::min(1.0, (s - up) / std::max(1.0, double(o.total_steps) - up));
    return cos_interp(base, end, t);
  }
  if (o.warmup_steps > 0 && step < o.warmup_steps) return base * double(step + 1) / double(o.warmup_steps);
  if (o.kind == "constant") return base;
  if (o.kind == "step") {
    double lr = base;
    for (int64_t m : o.milestones)
      if (step >= m) lr *= o.gamma;
    return lr;
  }
  double span = std::max<double>(1.0, double(o.total_steps - o.warmup_steps));
  double t = std::min(1.0, double(step - o.warmup_steps) / span);
  return cos_interp(base, base * o.final_lr_fraction, t);
}

}  // namespace engine::optim
