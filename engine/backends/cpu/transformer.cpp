// CPU adapters for the transformer ops: layer norm (forward, backward), the masked
// softmax and the fused attention (forward, backward). bf16/f16 calls reach them through
// the f32 stand-ins of lowp.h, so the kernels see f32 or f64 only.
#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/layernorm.h"

namespace engine {
namespace {
using namespace kernels;

template <class T>
T* opt(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

void layer_norm_cpu(const OpCall& c) {
  const auto& a = c.get<LayerNormAttrs>();
  const Tensor& x = c.in[0];
  ENGINE_DISPATCH_FLOAT(
      x.dtype(), c.op,
      layer_norm_fwd_cpu<scalar_t>(c.out[0].data<scalar_t>(), c.out[1].data<scalar_t>(), c.out[2].data<scalar_t>(),
                                   x.data<scalar_t>(), data_or_null<scalar_t>(c.in[1]), data_or_null<scalar_t>(c.in[2]),
                                   a.rows, a.D, a.eps));
}

void layer_norm_bwd_cpu_adapter(const OpCall& c) {
  const auto& a = c.get<LayerNormAttrs>();
  const Tensor& x = c.in[1];
  ENGINE_DISPATCH_FLOAT(
      x.dtype(), c.op,
      layer_norm_bwd_cpu<scalar_t>(c.out[0].data<scalar_t>(), opt<scalar_t>(c.out[1]), opt<scalar_t>(c.out[2]),
                                   c.in[0].data<scalar_t>(), x.data<scalar_t>(), data_or_null<scalar_t>(c.in[2]),
                                   c.in[3].data<scalar_t>(), c.in[4].data<scalar_t>(), a.rows, a.D));
}

void masked_softmax_cpu(const OpCall& c) {
  const auto& a = c.get<MaskedSoftmaxAttrs>();
  const Tensor &x = c.in[0], &y = c.out[0];
  ENGINE_DISPATCH_FLOAT(
      x.dtype(), c.op,
      masked_softmax_fwd_cpu<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), data_or_null<uint8_t>(c.in[1]),
                                       layout_or_empty(c.in[1]), a.rows, a.n));
}

void attention_cpu(const OpCall& c) {
  const auto& p = c.get<AttentionAttrs>().p;
  const Tensor& q = c.in[0];
  ENGINE_DISPATCH_FLOAT(q.dtype(), c.op,
                        attention_fwd_cpu<scalar_t>(c.out[0].data<scalar_t>(), c.out[1].data<scalar_t>(),
                                                    q.data<scalar_t>(), c.in[1].data<scalar_t>(),
                                                    c.in[2].data<scalar_t>(), data_or_null<uint8_t>(c.in[3]), p));
}

void attention_bwd_cpu_adapter(const OpCall& c) {
  const auto& p = c.get<AttentionAttrs>().p;
  const Tensor& q = c.in[1];
  ENGINE_DISPATCH_FLOAT(
      q.dtype(), c.op,
      attention_bwd_cpu<scalar_t>(c.out[0].data<scalar_t>(), c.out[1].data<scalar_t>(), c.out[2].data<scalar_t>(),
                                  c.in[0].data<scalar_t>(), q.data<scalar_t>(), c.in[2].data<scalar_t>(),
                                  c.in[3].data<scalar_t>(), c.in[4].data<scalar_t>(), c.in[5].data<scalar_t>(),
                                  data_or_null<uint8_t>(c.in[6]), p));
}

}  // namespace

void register_cpu_transformer() {
  register_kernel(OpKind::LAYERNORM, DeviceType::CPU, layer_norm_cpu);
  register_kernel(OpKind::LAYERNORM_BWD, DeviceType::CPU, layer_norm_bwd_cpu_adapter);
  register_kernel(OpKind::MASKED_SOFTMAX, DeviceType::CPU, masked_softmax_cpu);
  register_kernel(OpKind::ATTENTION, DeviceType::CPU, attention_cpu);
  register_kernel(OpKind::ATTENTION_BWD, DeviceType::CPU, attention_bwd_cpu_adapter);
}

}  // namespace engine
