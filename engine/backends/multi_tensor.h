#pragma once
// The per-tensor records of a multi-tensor optimizer op, shared by its CPU and CUDA
// adapters: parameter i is out[i], its gradient in[i], its states out[i + n] and
// out[i + 2 n] where the op has them.
#include <cstdint>
#include <vector>

#include "base/params.h"
#include "engine/core/dispatch.h"

namespace engine {

inline std::vector<kernels::MultiTensorRecord> multi_tensor_records(const OpCall& c, int states,
                                                                    const std::vector<double>& weight_decay,
                                                                    const std::vector<uint8_t>& first_step) {
  const size_t n = c.in.size();
  std::vector<kernels::MultiTensorRecord> r(n);
  for (size_t i = 0; i < n; ++i) {
    r[i].p = c.out[i].data_ptr();
    r[i].g = c.in[i].data_ptr();
    if (states >= 1) r[i].s1 = c.out[i + n].data_ptr();
    if (states >= 2) r[i].s2 = c.out[i + 2 * n].data_ptr();
    r[i].n = c.out[i].numel();
    r[i].weight_decay = weight_decay[i];
    r[i].first_step = first_step.empty() ? 0 : first_step[i];
  }
  return r;
}

}  // namespace engine
