// CUDA adapters for the optimizer updates.
#include "engine/ops/cuda_adapter.h"
#include "kernels/cuda/optim.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

void sgd_cuda(const OpCall& c) {
  const auto& a = c.get<SgdAttrs>();
  const Tensor &g = c.in[0], &p = c.out[0], &buf = c.out[1];
  ENGINE_CUDA_DISPATCH_FLOAT(p.dtype(), c.op,
                             sgd_step_cuda<scalar_t>(p.data<scalar_t>(), g.data<scalar_t>(),
                                                     buf.defined() ? buf.data<scalar_t>() : nullptr, p.numel(), a.lr,
                                                     a.momentum, a.dampening, a.weight_decay, a.nesterov,
                                                     a.first_step, stream_of(c)));
}

void adamw_cuda(const OpCall& c) {
  const auto& a = c.get<AdamWAttrs>();
  const Tensor &g = c.in[0], &p = c.out[0], &m = c.out[1], &v = c.out[2];
  ENGINE_CUDA_DISPATCH_FLOAT(p.dtype(), c.op,
                             adamw_step_cuda<scalar_t>(p.data<scalar_t>(), g.data<scalar_t>(), m.data<scalar_t>(),
                                                       v.data<scalar_t>(), p.numel(), a.lr, a.beta1, a.beta2, a.eps,
                                                       a.weight_decay, a.step, stream_of(c)));
}

}  // namespace

void register_cuda_optim() {
  reg<sgd_cuda>(OpKind::SGD_STEP);
  reg<adamw_cuda>(OpKind::ADAMW_STEP);
}

}  // namespace engine
