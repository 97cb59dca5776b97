// CPU adapter for batch normalisation with a fused epilogue. Optional tensors arrive
// undefined and reach the kernels as null. bf16 activations with f32 parameters and
// statistics (autocast's mix) run the bf16 kernels directly; other low-precision mixes
// take the f32 stand-ins of lowp.h.
#include "kernels/cpu/norm_act.h"

#include <vector>

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

// The tensors of a call that hold activations (shaped like x); the rest are per-channel.
bool is_activation(OpKind op, bool out, size_t i) {
  if (op == OpKind::BATCHNORM2D_ACT) return out ? i == 0 : i <= 1;  // y; x, residual
  return out ? (i == 0 || i == 3) : i <= 2;                         // gx, gresidual; gy, y, x
}

void batchnorm2d_act_cpu(const OpCall& c) {
  const auto& p = c.get<BatchNormActAttrs>().p;
  const Tensor& x = c.in[0];
  if (x.dtype() == DType::bf16) {  // bf16 activations, f32 channels (cpu_norm_act_runs_bf16)
    batchnorm2d_act_fwd_bf16(p, bits16(c.out[0]), c.out[1].data<float>(), c.out[2].data<float>(), bits16(x),
                             bits16(c.in[1]), opt<float>(c.in[2]), opt<float>(c.in[3]), opt<float>(c.in[4]),
                             opt<float>(c.in[5]));
    return;
  }
  ENGINE_DISPATCH_FLOAT(x.dtype(), c.op,
                        batchnorm2d_act_fwd_cpu<scalar_t>(
                            p, c.out[0].data<scalar_t>(), c.out[1].data<scalar_t>(), c.out[2].data<scalar_t>(),
                            x.data<scalar_t>(), opt<scalar_t>(c.in[1]), opt<scalar_t>(c.in[2]), opt<scalar_t>(c.in[3]),
                            opt<scalar_t>(c.in[4]), opt<scalar_t>(c.in[5])));
}

void batchnorm2d_act_bwd_cpu_adapter(const OpCall& c) {
  const auto& p = c.get<BatchNormActAttrs>().p;
  const Tensor& x = c.in[2];
  if (x.dtype() == DType::bf16) {
    batchnorm2d_act_bwd_bf16(p, bits16(c.out[0]), opt<float>(c.out[1]), opt<float>(c.out[2]), bits16(c.out[3]),
                             bits16(c.in[0]), bits16(c.in[1]), bits16(x), opt<float>(c.in[3]), c.in[4].data<float>(),
                             c.in[5].data<float>());
    return;
  }
  ENGINE_DISPATCH_FLOAT(
      x.dtype(), c.op,
      batchnorm2d_act_bwd_cpu<scalar_t>(p, opt<scalar_t>(c.out[0]), opt<scalar_t>(c.out[1]), opt<scalar_t>(c.out[2]),
                                        opt<scalar_t>(c.out[3]), c.in[0].data<scalar_t>(), opt<scalar_t>(c.in[1]),
                                        x.data<scalar_t>(), opt<scalar_t>(c.in[3]), c.in[4].data<scalar_t>(),
                                        c.in[5].data<scalar_t>()));
}

}  // namespace

bool cpu_norm_act_runs_bf16(const OpCall& c) {
  if (c.op != OpKind::BATCHNORM2D_ACT && c.op != OpKind::BATCHNORM2D_ACT_BWD) return false;
  for (int out = 0; out < 2; ++out) {
    const std::vector<Tensor>& ts = out ? c.out : c.in;
    for (size_t i = 0; i < ts.size(); ++i)
      if (ts[i].defined() && ts[i].dtype() != (is_activation(c.op, out, i) ? DType::bf16 : DType::f32)) return false;
  }
  return true;
}

void register_cpu_norm_act() {
  register_kernel(OpKind::BATCHNORM2D_ACT, DeviceType::CPU, batchnorm2d_act_cpu);
  register_kernel(OpKind::BATCHNORM2D_ACT_BWD, DeviceType::CPU, batchnorm2d_act_bwd_cpu_adapter);
}

}  // namespace engine
