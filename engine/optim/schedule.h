#pragma once
// Learning-rate schedules as pure functions of the step, so a resumed run gets the
// same rate at the same step.
#include <string>
#include <vector>

namespace engine::optim {

struct ScheduleOptions {
  std::string kind = "cosine";  // constant | step | cosine | onecycle
  double base_lr = 0.1;
  int64_t total_steps = 1;
  int64_t warmup_steps = 0;         // linear warmup from 0 (cosine, constant, step)
  std::vector<int64_t> milestones;  // step: multiply by gamma at each milestone
  double gamma = 0.1;
  double final_lr_fraction = 0.0;   // cosine: floor as a fraction of base_lr
  double onecycle_pct_start = 0.3;  // onecycle: fraction of steps rising
  double onecycle_div = 25.0;       // onecycle: initial lr = base / div
  double onecycle_final_div = 1e4;  // onecycle: final lr = base / final_div
};

double learning_rate(const ScheduleOptions& o, int64_t step);
void validate_schedule(const ScheduleOptions& o);  // throws naming the bad field

}  // namespace engine::optim
