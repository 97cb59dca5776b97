// CPU adapters for the softmax family: softmax, log-softmax, their backward passes
// and the fused cross-entropy.
#include "kernels/cpu/softmax.h"

#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"

namespace engine {
namespace {
using namespace kernels;

void softmax_cpu(const OpCall& c) {
  const Tensor &x = c.in[0], &y = c.out[0];
  const auto& a = c.get<SoftmaxAttrs>();
  bool log = c.op == OpKind::LOG_SOFTMAX;
  ENGINE_DISPATCH_FLOAT(y.dtype(), c.op,
                        softmax_fwd_cpu<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), a.outer, a.n, a.inner, log));
}

void softmax_bwd_cpu_adapter(const OpCall& c) {
  const Tensor &gy = c.in[0], &y = c.in[1], &gx = c.out[0];
  const auto& a = c.get<SoftmaxAttrs>();
  bool log = c.op == OpKind::LOG_SOFTMAX_BWD;
  ENGINE_DISPATCH_FLOAT(gx.dtype(), c.op,
                        softmax_bwd_cpu<scalar_t>(gx.data<scalar_t>(), gy.data<scalar_t>(), y.data<scalar_t>(), a.outer,
                                                  a.n, a.inner, log));
}

void cross_entropy_cpu(const OpCall& c) {
  const Tensor &logits = c.in[0], &labels = c.in[1], &loss = c.out[0], &lse = c.out[1];
  double s = c.get<CrossEntropyAttrs>().label_smoothing;
  ENGINE_DISPATCH_FLOAT(
      logits.dtype(), c.op,
      cross_entropy_fwd_cpu<scalar_t>(loss.data<scalar_t>(), lse.data<scalar_t>(), logits.data<scalar_t>(),
                                      labels.data<int64_t>(), logits.size(0), logits.size(1), s));
}

void cross_entropy_bwd_cpu_adapter(const OpCall& c) {
  const Tensor &gloss = c.in[0], &logits = c.in[1], &labels = c.in[2], &lse = c.in[3], &g = c.out[0];
  double s = c.get<CrossEntropyAttrs>().label_smoothing;
  ENGINE_DISPATCH_FLOAT(
      logits.dtype(), c.op,
      cross_entropy_bwd_cpu<scalar_t>(g.data<scalar_t>(), gloss.data<scalar_t>(), logits.data<scalar_t>(),
                                      labels.data<int64_t>(), lse.data<scalar_t>(), logits.size(0), logits.size(1), s));
}

}  // namespace

void register_cpu_softmax() {
  register_kernel(OpKind::SOFTMAX, DeviceType::CPU, softmax_cpu);
  register_kernel(OpKind::LOG_SOFTMAX, DeviceType::CPU, softmax_cpu);
  register_kernel(OpKind::SOFTMAX_BWD, DeviceType::CPU, softmax_bwd_cpu_adapter);
  register_kernel(OpKind::LOG_SOFTMAX_BWD, DeviceType::CPU, softmax_bwd_cpu_adapter);
  register_kernel(OpKind::CROSS_ENTROPY, DeviceType::CPU, cross_entropy_cpu);
  register_kernel(OpKind::CROSS_ENTROPY_BWD, DeviceType::CPU, cross_entropy_bwd_cpu_adapter);
}

}  // namespace engine
