// CPU adapters for copies, fills and random fills.
#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "kernels/cpu/elementwise.h"

namespace engine {
namespace {
using namespace kernels;

void copy_cpu_adapter(const OpCall& c) {
  const Tensor &src = c.in[0], &dst = c.out[0];
  copy_cpu(dst.data_ptr(), dst.dtype(), layout_of(dst), src.data_ptr(), src.dtype(), layout_of(src), dst.numel());
}
void fill_cpu_adapter(const OpCall& c) {
  const Tensor& dst = c.out[0];
  fill_cpu(dst.data_ptr(), dst.dtype(), layout_of(dst), c.get<FillAttrs>().value, dst.numel());
}
void rng_uniform_adapter(const OpCall& c) {
  const auto& a = c.get<RngAttrs>();
  rng_uniform_cpu(c.out[0].data_ptr(), c.out[0].dtype(), c.out[0].numel(), a.seed, a.offset, a.a, a.b);
}
void rng_normal_adapter(const OpCall& c) {
  const auto& a = c.get<RngAttrs>();
  rng_normal_cpu(c.out[0].data_ptr(), c.out[0].dtype(), c.out[0].numel(), a.seed, a.offset, a.a, a.b);
}

}  // namespace

void register_cpu_misc() {
  register_kernel(OpKind::COPY, DeviceType::CPU, copy_cpu_adapter, kAllDTypes);
  register_kernel(OpKind::FILL, DeviceType::CPU, fill_cpu_adapter, kAllDTypes);
  register_kernel(OpKind::RNG_UNIFORM, DeviceType::CPU, rng_uniform_adapter);
  register_kernel(OpKind::RNG_NORMAL, DeviceType::CPU, rng_normal_adapter);
}

}  // namespace engine
