// CPU adapters for the optimizer updates.
#include "kernels/cpu/optim.h"

#include "engine/backends/cpu/adapter.h"
#include "engine/backends/multi_tensor.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"

namespace engine {
namespace {
using namespace kernels;

void sgd_cpu(const OpCall& c) {
  const auto& a = c.get<SgdAttrs>();
  const Tensor &g = c.in[0], &p = c.out[0], &buf = c.out[1];
  ENGINE_DISPATCH_FLOAT(
      p.dtype(), c.op,
      sgd_step_cpu<scalar_t>(p.data<scalar_t>(), g.data<scalar_t>(), buf.defined() ? buf.data<scalar_t>() : nullptr,
                             p.numel(), a.lr, a.momentum, a.dampening, a.weight_decay, a.nesterov, a.first_step));
}

void adamw_cpu(const OpCall& c) {
  const auto& a = c.get<AdamWAttrs>();
  const Tensor &g = c.in[0], &p = c.out[0], &m = c.out[1], &v = c.out[2];
  ENGINE_DISPATCH_FLOAT(
      p.dtype(), c.op,
      adamw_step_cpu<scalar_t>(p.data<scalar_t>(), g.data<scalar_t>(), m.data<scalar_t>(), v.data<scalar_t>(),
                               p.numel(), a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.step));
}

void sgd_multi_cpu(const OpCall& c) {
  const auto& a = c.get<SgdMultiAttrs>();
  auto r = multi_tensor_records(c, a.h.momentum != 0 ? 1 : 0, a.weight_decay, a.first_step);
  ENGINE_DISPATCH_FLOAT(c.out[0].dtype(), c.op, sgd_step_multi_cpu<scalar_t>(r.data(), int64_t(r.size()), a.h));
}

void adamw_multi_cpu(const OpCall& c) {
  const auto& a = c.get<AdamWMultiAttrs>();
  auto r = multi_tensor_records(c, 2, a.weight_decay, {});
  ENGINE_DISPATCH_FLOAT(c.out[0].dtype(), c.op, adamw_step_multi_cpu<scalar_t>(r.data(), int64_t(r.size()), a.h));
}

void sum_squares_multi_cpu_adapter(const OpCall& c) {
  std::vector<int64_t> ns;
  for (const Tensor& t : c.in) ns.push_back(t.numel());
  ENGINE_DISPATCH_FLOAT(c.in[0].dtype(), c.op, {
    std::vector<const scalar_t*> xs;
    for (const Tensor& t : c.in) xs.push_back(t.data<scalar_t>());
    *c.out[0].data<double>() = sum_squares_multi_cpu<scalar_t>(xs.data(), ns.data(), int64_t(xs.size()));
  });
}

}  // namespace

void register_cpu_optim() {
  register_kernel(OpKind::SGD_STEP, DeviceType::CPU, sgd_cpu);
  register_kernel(OpKind::ADAMW_STEP, DeviceType::CPU, adamw_cpu);
  register_kernel(OpKind::SGD_STEP_MULTI, DeviceType::CPU, sgd_multi_cpu);
  register_kernel(OpKind::ADAMW_STEP_MULTI, DeviceType::CPU, adamw_multi_cpu);
  register_kernel(OpKind::SUM_SQUARES_MULTI, DeviceType::CPU, sum_squares_multi_cpu_adapter);
}

}  // namespace engine
