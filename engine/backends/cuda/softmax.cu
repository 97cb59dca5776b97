// CUDA adapters for the softmax family: softmax, log-softmax, their backward passes
// and the fused cross-entropy.
#include "engine/backends/cuda/adapter.h"
#include "kernels/cuda/softmax.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::op_device;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

void softmax_cuda(const OpCall& c) {
  const Tensor &x = c.in[0], &y = c.out[0];
  const auto& a = c.get<SoftmaxAttrs>();
  bool log = c.op == OpKind::LOG_SOFTMAX;
  ENGINE_CUDA_DISPATCH_FLOAT(
      y.dtype(), c.op,
      softmax_fwd_cuda<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), a.outer, a.n, a.inner, log, stream_of(c)));
}

void softmax_bwd_cuda_adapter(const OpCall& c) {
  const Tensor &gy = c.in[0], &y = c.in[1], &gx = c.out[0];
  const auto& a = c.get<SoftmaxAttrs>();
  bool log = c.op == OpKind::LOG_SOFTMAX_BWD;
  ENGINE_CUDA_DISPATCH_FLOAT(gx.dtype(), c.op,
                             softmax_bwd_cuda<scalar_t>(gx.data<scalar_t>(), gy.data<scalar_t>(), y.data<scalar_t>(),
                                                        a.outer, a.n, a.inner, log, stream_of(c)));
}

void cross_entropy_cuda(const OpCall& c) {
  const Tensor &logits = c.in[0], &labels = c.in[1], &loss = c.out[0], &lse = c.out[1];
  double s = c.get<CrossEntropyAttrs>().label_smoothing;
  int dev = op_device(c);
  Tensor row_loss = Tensor::empty({logits.size(0)}, DType::f64, logits.device());
  CudaIndexError* err = runtime::cuda::index_error_record(dev);
  ENGINE_CUDA_DISPATCH_FLOAT(
      logits.dtype(), c.op,
      cross_entropy_fwd_cuda<scalar_t>(loss.data<scalar_t>(), lse.data<scalar_t>(), logits.data<scalar_t>(),
                                       labels.data<int64_t>(), logits.size(0), logits.size(1), s,
                                       row_loss.data<double>(), err, stream_of(c)));
}

void cross_entropy_bwd_cuda_adapter(const OpCall& c) {
  const Tensor &gloss = c.in[0], &logits = c.in[1], &labels = c.in[2], &lse = c.in[3], &g = c.out[0];
  double s = c.get<CrossEntropyAttrs>().label_smoothing;
  CudaIndexError* err = runtime::cuda::index_error_record(op_device(c));
  ENGINE_CUDA_DISPATCH_FLOAT(
      logits.dtype(), c.op,
      cross_entropy_bwd_cuda<scalar_t>(g.data<scalar_t>(), gloss.data<scalar_t>(), logits.data<scalar_t>(),
                                       labels.data<int64_t>(), lse.data<scalar_t>(), logits.size(0), logits.size(1), s,
                                       err, stream_of(c)));
}

}  // namespace

void register_cuda_softmax() {
  reg<softmax_cuda>(OpKind::SOFTMAX);
  reg<softmax_cuda>(OpKind::LOG_SOFTMAX);
  reg<softmax_bwd_cuda_adapter>(OpKind::SOFTMAX_BWD);
  reg<softmax_bwd_cuda_adapter>(OpKind::LOG_SOFTMAX_BWD);
  reg<cross_entropy_cuda>(OpKind::CROSS_ENTROPY);
  reg<cross_entropy_bwd_cuda_adapter>(OpKind::CROSS_ENTROPY_BWD);
}

}  // namespace engine
