// CUDA adapters for the convolution family (cuDNN).
#include "engine/backends/cuda/adapter.h"
#include "kernels/cuda/conv.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::op_device;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

ScratchFn scratch_of(int device) {
  return [device](size_t n) { return runtime::cuda::workspace(device, n); };
}

void conv2d_cuda(const OpCall& c) {
  const Tensor &x = c.in[0], &w = c.in[1], &bias = c.in[2], &y = c.out[0];
  int dev = op_device(c);
  conv2d_fwd_cuda(runtime::cuda::cudnn_handle(dev), y.dtype(), y.data_ptr(), x.data_ptr(), w.data_ptr(),
                  bias.defined() ? bias.data_ptr() : nullptr, c.get<ConvAttrs>().p, runtime::cuda::tf32_enabled(),
                  scratch_of(dev), stream_of(c));
}

void conv2d_bwd_data_cuda_adapter(const OpCall& c) {
  const Tensor &gy = c.in[0], &w = c.in[1], &gx = c.out[0];
  int dev = op_device(c);
  conv2d_bwd_data_cuda(runtime::cuda::cudnn_handle(dev), gx.dtype(), gx.data_ptr(), gy.data_ptr(), w.data_ptr(),
                       c.get<ConvAttrs>().p, runtime::cuda::tf32_enabled(), scratch_of(dev), stream_of(c));
}

void conv2d_bwd_filter_cuda_adapter(const OpCall& c) {
  const Tensor &gy = c.in[0], &x = c.in[1], &gw = c.out[0];
  int dev = op_device(c);
  conv2d_bwd_filter_cuda(runtime::cuda::cudnn_handle(dev), gw.dtype(), gw.data_ptr(), gy.data_ptr(), x.data_ptr(),
                         c.get<ConvAttrs>().p, runtime::cuda::tf32_enabled(), scratch_of(dev), stream_of(c));
}

}  // namespace

void register_cuda_conv() {
  reg<conv2d_cuda>(OpKind::CONV2D);
  reg<conv2d_bwd_data_cuda_adapter>(OpKind::CONV2D_BWD_DATA);
  reg<conv2d_bwd_filter_cuda_adapter>(OpKind::CONV2D_BWD_FILTER);
}

}  // namespace engine
