// CUDA adapters for the transformer ops: layer norm (forward, backward), the masked
// softmax and the fused attention (forward, backward). Layer norm's weight and bias have
// x's dtype, or f32 beside a bf16/f16 x; the statistics and lse are f32 (f64 for f64).
// Scratch (column partial sums, attention's delta) lives in the op workspace.
#include <type_traits>

#include "engine/backends/cuda/adapter.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/layernorm.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::by_dtypes;
using cuda_adapter::op_device;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

// The kernels' arithmetic type: f64 for f64, f32 for the others.
template <class T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <class U>
U* opt(const Tensor& t) {
  return t.defined() ? t.data<U>() : nullptr;
}

template <class T, class P>
void layer_norm_fwd(const OpCall& c) {
  using A = acc_t<T>;
  const auto& a = c.get<LayerNormAttrs>();
  layer_norm_fwd_cuda<T, P, A>(c.out[0].data<T>(), c.out[1].data<A>(), c.out[2].data<A>(), c.in[0].data<T>(),
                               opt<P>(c.in[1]), opt<P>(c.in[2]), a.rows, a.D, a.eps, stream_of(c));
}

template <class T, class P>
void layer_norm_bwd(const OpCall& c) {
  using A = acc_t<T>;
  const auto& a = c.get<LayerNormAttrs>();
  void* scratch = runtime::cuda::workspace(op_device(c), layer_norm_bwd_cuda_scratch_bytes(a.rows, a.D, sizeof(A)));
  layer_norm_bwd_cuda<T, P, A>(c.out[0].data<T>(), opt<P>(c.out[1]), opt<P>(c.out[2]), c.in[0].data<T>(),
                               c.in[1].data<T>(), opt<P>(c.in[2]), c.in[3].data<A>(), c.in[4].data<A>(), a.rows, a.D,
                               scratch, stream_of(c));
}

template <class T, class P>
struct LnFwd {
  static void run(const OpCall& c) { layer_norm_fwd<T, P>(c); }
};
template <class T, class P>
struct LnBwd {
  static void run(const OpCall& c) { layer_norm_bwd<T, P>(c); }
};

void layer_norm_cuda(const OpCall& c) { by_dtypes<LnFwd>(c, c.in[0], c.in[1].defined() ? c.in[1] : c.in[2]); }

void layer_norm_bwd_cuda_adapter(const OpCall& c) {
  const Tensor& param = c.in[2].defined() ? c.in[2] : (c.out[1].defined() ? c.out[1] : c.out[2]);
  by_dtypes<LnBwd>(c, c.in[1], param);
}

void masked_softmax_cuda(const OpCall& c) {
  const auto& a = c.get<MaskedSoftmaxAttrs>();
  const Tensor &x = c.in[0], &y = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(
      x.dtype(), c.op,
      masked_softmax_fwd_cuda<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), opt<uint8_t>(c.in[1]),
                                        layout_or_empty(c.in[1]), a.rows, a.n, stream_of(c)));
}

void attention_cuda(const OpCall& c) {
  const auto& p = c.get<AttentionAttrs>().p;
  const Tensor& q = c.in[0];
  ENGINE_CUDA_DISPATCH_FLOAT(
      q.dtype(), c.op,
      (attention_fwd_cuda<scalar_t, acc_t<scalar_t>>(
          c.out[0].data<scalar_t>(), c.out[1].data<acc_t<scalar_t>>(), q.data<scalar_t>(), c.in[1].data<scalar_t>(),
          c.in[2].data<scalar_t>(), opt<uint8_t>(c.in[3]), p, stream_of(c))));
}

template <class T>
void attention_bwd(const OpCall& c) {
  using A = acc_t<T>;
  const auto& p = c.get<AttentionAttrs>().p;
  void* scratch = runtime::cuda::workspace(op_device(c), attention_bwd_cuda_scratch_bytes(p, sizeof(A)));
  attention_bwd_cuda<T, A>(c.out[0].data<T>(), c.out[1].data<T>(), c.out[2].data<T>(), c.in[0].data<T>(),
                           c.in[1].data<T>(), c.in[2].data<T>(), c.in[3].data<T>(), c.in[4].data<T>(),
                           c.in[5].data<A>(), opt<uint8_t>(c.in[6]), p, scratch, stream_of(c));
}

void attention_bwd_cuda_adapter(const OpCall& c) {
  ENGINE_CUDA_DISPATCH_FLOAT(c.in[1].dtype(), c.op, attention_bwd<scalar_t>(c));
}

}  // namespace

void register_cuda_transformer() {
  reg<layer_norm_cuda>(OpKind::LAYERNORM);
  reg<layer_norm_bwd_cuda_adapter>(OpKind::LAYERNORM_BWD);
  reg<masked_softmax_cuda>(OpKind::MASKED_SOFTMAX);
  reg<attention_cuda>(OpKind::ATTENTION);
  reg<attention_bwd_cuda_adapter>(OpKind::ATTENTION_BWD);
}

}  // namespace engine
