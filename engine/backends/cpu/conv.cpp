// CPU adapters for the convolution family. The CPU kernels are NCHW only: channels-last
// operands go through row-major copies (the simple path; the CPU is the reference).
#include "kernels/cpu/conv.h"

#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"

namespace engine {
namespace {
using namespace kernels;

// A row-major scratch output for a channels-last one, copied back by finish().
Tensor nchw_out(const Tensor& out, const Conv2dParams& p) {
  return p.channels_last ? Tensor::empty(out.shape(), out.dtype(), out.device()) : out;
}
void finish(const Tensor& out, const Tensor& scratch) {
  if (!scratch.shares_storage(out)) Tensor(out).copy_from(scratch);
}

void conv2d_cpu(const OpCall& c) {
  const auto& p = c.get<ConvAttrs>().p;
  const Tensor x = c.in[0].contiguous(), &w = c.in[1], &bias = c.in[2], y = nchw_out(c.out[0], p);
  ENGINE_DISPATCH_FLOAT(y.dtype(), c.op,
                        conv2d_fwd_cpu<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(),
                                                 bias.defined() ? bias.data<scalar_t>() : nullptr, p));
  finish(c.out[0], y);
}

void conv2d_bwd_data_cpu_adapter(const OpCall& c) {
  const auto& p = c.get<ConvAttrs>().p;
  const Tensor gy = c.in[0].contiguous(), &w = c.in[1], gx = nchw_out(c.out[0], p);
  ENGINE_DISPATCH_FLOAT(gx.dtype(), c.op,
                        conv2d_bwd_data_cpu<scalar_t>(gx.data<scalar_t>(), gy.data<scalar_t>(), w.data<scalar_t>(), p));
  finish(c.out[0], gx);
}

void conv2d_bwd_filter_cpu_adapter(const OpCall& c) {
  const Tensor gy = c.in[0].contiguous(), x = c.in[1].contiguous(), &gw = c.out[0];
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
