// CPU adapter for batch normalisation with a fused epilogue. Optional tensors arrive
// undefined and reach the kernels as null.
#include "kernels/cpu/norm_act.h"

#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"

namespace engine {
namespace {
using namespace kernels;

template <class T>
T* opt(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

void batchnorm2d_act_cpu(const OpCall& c) {
  const auto& p = c.get<BatchNormActAttrs>().p;
  const Tensor& x = c.in[0];
  ENGINE_DISPATCH_FLOAT(x.dtype(), c.op,
                        batchnorm2d_act_fwd_cpu<scalar_t>(
                            p, c.out[0].data<scalar_t>(), c.out[1].data<scalar_t>(), c.out[2].data<scalar_t>(),
                            x.data<scalar_t>(), opt<scalar_t>(c.in[1]), opt<scalar_t>(c.in[2]), opt<scalar_t>(c.in[3]),
                            opt<scalar_t>(c.in[4]), opt<scalar_t>(c.in[5])));
}

void batchnorm2d_act_bwd_cpu_adapter(const OpCall& c) {
  const auto& p = c.get<BatchNormActAttrs>().p;
  const Tensor& x = c.in[2];
  ENGINE_DISPATCH_FLOAT(
      x.dtype(), c.op,
      batchnorm2d_act_bwd_cpu<scalar_t>(p, opt<scalar_t>(c.out[0]), opt<scalar_t>(c.out[1]), opt<scalar_t>(c.out[2]),
                                        opt<scalar_t>(c.out[3]), c.in[0].data<scalar_t>(), opt<scalar_t>(c.in[1]),
                                        x.data<scalar_t>(), opt<scalar_t>(c.in[3]), c.in[4].data<scalar_t>(),
                                        c.in[5].data<scalar_t>()));
}

}  // namespace

void register_cpu_norm_act() {
  register_kernel(OpKind::BATCHNORM2D_ACT, DeviceType::CPU, batchnorm2d_act_cpu);
  register_kernel(OpKind::BATCHNORM2D_ACT_BWD, DeviceType::CPU, batchnorm2d_act_bwd_cpu_adapter);
}

}  // namespace engine
