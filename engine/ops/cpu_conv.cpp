// CPU adapters for the convolution family.
#include "engine/ops/adapter_util.h"
#include "engine/ops/attrs.h"
#include "engine/ops/dispatch.h"
#include "kernels/cpu/conv.h"

namespace engine {
namespace {
using namespace kernels;

void conv2d_cpu(const OpCall& c) {
  const Tensor &x = c.in[0], &w = c.in[1], &bias = c.in[2], &y = c.out[0];
  ENGINE_DISPATCH_FLOAT(y.dtype(), c.op,
                        conv2d_fwd_cpu<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(),
                                                 bias.defined() ? bias.data<scalar_t>() : nullptr,
                                                 c.get<ConvAttrs>().p));
}

void conv2d_bwd_data_cpu_adapter(const OpCall& c) {
  const Tensor &gy = c.in[0], &w = c.in[1], &gx = c.out[0];
  ENGINE_DISPATCH_FLOAT(gx.dtype(), c.op,
                        conv2d_bwd_data_cpu<scalar_t>(gx.data<scalar_t>(), gy.data<scalar_t>(), w.data<scalar_t>(),
                                                      c.get<ConvAttrs>().p));
}

void conv2d_bwd_filter_cpu_adapter(const OpCall& c) {
  const Tensor &gy = c.in[0], &x = c.in[1], &gw = c.out[0];
  ENGINE_DISPATCH_FLOAT(gw.dtype(), c.op,
                        conv2d_bwd_filter_cpu<scalar_t>(gw.data<scalar_t>(), gy.data<scalar_t>(), x.data<scalar_t>(),
                                                        c.get<ConvAttrs>().p));
}

}  // namespace

void register_cpu_conv() {
  register_kernel(OpKind::CONV2D, DeviceType::CPU, conv2d_cpu);
  register_kernel(OpKind::CONV2D_BWD_DATA, DeviceType::CPU, conv2d_bwd_data_cpu_adapter);
  register_kernel(OpKind::CONV2D_BWD_FILTER, DeviceType::CPU, conv2d_bwd_filter_cpu_adapter);
}

}  // namespace engine
