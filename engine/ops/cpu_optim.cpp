// CPU adapters for the optimizer updates.
#include "engine/ops/adapter_util.h"
#include "engine/ops/attrs.h"
#include "engine/ops/dispatch.h"
#include "kernels/cpu/optim.h"

namespace engine {
namespace {
using namespace kernels;

void sgd_cpu(const OpCall& c) {
  const auto& a = c.get<SgdAttrs>();
  const Tensor &g = c.in[0], &p = c.out[0], &buf = c.out[1];
  ENGINE_DISPATCH_FLOAT(p.dtype(), c.op,
                        sgd_step_cpu<scalar_t>(p.data<scalar_t>(), g.data<scalar_t>(),
                                               buf.defined() ? buf.data<scalar_t>() : nullptr, p.numel(), a.lr,
                                               a.momentum, a.dampening, a.weight_decay, a.nesterov, a.first_step));
}

void adamw_cpu(const OpCall& c) {
  const auto& a = c.get<AdamWAttrs>();
  const Tensor &g = c.in[0], &p = c.out[0], &m = c.out[1], &v = c.out[2];
  ENGINE_DISPATCH_FLOAT(p.dtype(), c.op,
                        adamw_step_cpu<scalar_t>(p.data<scalar_t>(), g.data<scalar_t>(), m.data<scalar_t>(),
                                                 v.data<scalar_t>(), p.numel(), a.lr, a.beta1, a.beta2, a.eps,
                                                 a.weight_decay, a.step));
}

}  // namespace

void register_cpu_optim() {
  register_kernel(OpKind::SGD_STEP, DeviceType::CPU, sgd_cpu);
  register_kernel(OpKind::ADAMW_STEP, DeviceType::CPU, adamw_cpu);
}

}  // namespace engine
