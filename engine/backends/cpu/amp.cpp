// CPU adapter of the loss-scaling op.
#include "kernels/cpu/amp.h"

#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"

namespace engine {
namespace {

void amp_unscale_cpu_adapter(const OpCall& c) {
  const double inv = c.get<AmpUnscaleAttrs>().inv_scale;
  float* flag = c.out[0].data<float>();
  for (size_t i = 1; i < c.out.size(); ++i) {
    const Tensor& g = c.out[i];
    ENGINE_DISPATCH_FLOAT(g.dtype(), c.op,
                          kernels::amp_unscale_cpu<scalar_t>(g.data<scalar_t>(), g.numel(), inv, flag));
  }
}

}  // namespace

void register_cpu_amp() { register_kernel(OpKind::AMP_UNSCALE, DeviceType::CPU, amp_unscale_cpu_adapter); }

}  // namespace engine
