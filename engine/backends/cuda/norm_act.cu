// CUDA adapters for batch normalisation, with a fused epilogue (BATCHNORM2D_ACT) and
// without (BATCHNORM2D: the same kernels, no residual, no relu). Optional tensors arrive
// undefined and reach the kernels as null. The [C] tensors have x's dtype, or f32 beside
// a bf16/f16 x. The kernels' partial sums and coefficients live in the op workspace.
#include "engine/backends/cuda/adapter.h"
#include "kernels/cuda/norm_act.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::by_dtypes;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

template <class U>
U* opt(const Tensor& t) {
  return t.defined() ? t.data<U>() : nullptr;
}

double* scratch(const OpCall& c, const BatchNormActParams& p) {
  return static_cast<double*>(
      runtime::cuda::workspace(cuda_adapter::op_device(c), batchnorm2d_act_cuda_scratch_bytes(p)));
}

template <class T, class P>
void fwd(const OpCall& c) {
  const auto& p = c.get<BatchNormActAttrs>().p;
  batchnorm2d_act_fwd_cuda<T, P>(p, c.out[0].data<T>(), c.out[1].data<P>(), c.out[2].data<P>(), c.in[0].data<T>(),
                                 opt<T>(c.in[1]), opt<P>(c.in[2]), opt<P>(c.in[3]), opt<P>(c.in[4]), opt<P>(c.in[5]),
                                 scratch(c, p), stream_of(c));
}

template <class T, class P>
void bwd(const OpCall& c) {
  const auto& p = c.get<BatchNormActAttrs>().p;
  batchnorm2d_act_bwd_cuda<T, P>(p, opt<T>(c.out[0]), opt<P>(c.out[1]), opt<P>(c.out[2]), opt<T>(c.out[3]),
                                 c.in[0].data<T>(), opt<T>(c.in[1]), c.in[2].data<T>(), opt<P>(c.in[3]),
                                 c.in[4].data<P>(), c.in[5].data<P>(), scratch(c, p), stream_of(c));
}

// Plain batch norm (BATCHNORM2D, BATCHNORM2D_BWD): the same kernels without epilogue.
template <class T, class P>
void plain_fwd(const OpCall& c) {
  const BatchNormActParams p = without_epilogue(c.get<BatchNormAttrs>().p);
  batchnorm2d_act_fwd_cuda<T, P>(p, c.out[0].data<T>(), c.out[1].data<P>(), c.out[2].data<P>(), c.in[0].data<T>(),
                                 nullptr, opt<P>(c.in[1]), opt<P>(c.in[2]), opt<P>(c.in[3]), opt<P>(c.in[4]),
                                 scratch(c, p), stream_of(c));
}

template <class T, class P>
void plain_bwd(const OpCall& c) {
  const BatchNormActParams p = without_epilogue(c.get<BatchNormAttrs>().p);
  batchnorm2d_act_bwd_cuda<T, P>(p, opt<T>(c.out[0]), opt<P>(c.out[1]), opt<P>(c.out[2]), nullptr, c.in[0].data<T>(),
                                 nullptr, c.in[1].data<T>(), opt<P>(c.in[2]), c.in[3].data<P>(), c.in[4].data<P>(),
                                 scratch(c, p), stream_of(c));
}

template <class T, class P>
struct Fwd {
  static void run(const OpCall& c) { fwd<T, P>(c); }
};
template <class T, class P>
struct Bwd {
  static void run(const OpCall& c) { bwd<T, P>(c); }
};
template <class T, class P>
struct PlainFwd {
  static void run(const OpCall& c) { plain_fwd<T, P>(c); }
};
template <class T, class P>
struct PlainBwd {
  static void run(const OpCall& c) { plain_bwd<T, P>(c); }
};

void batchnorm2d_act_cuda(const OpCall& c) { by_dtypes<Fwd>(c, c.in[0], c.out[1]); }
void batchnorm2d_act_bwd_cuda_adapter(const OpCall& c) { by_dtypes<Bwd>(c, c.in[2], c.in[4]); }
void batchnorm2d_cuda(const OpCall& c) { by_dtypes<PlainFwd>(c, c.in[0], c.out[1]); }
void batchnorm2d_bwd_cuda_adapter(const OpCall& c) { by_dtypes<PlainBwd>(c, c.in[1], c.in[3]); }

}  // namespace

void register_cuda_norm_act() {
  reg<batchnorm2d_act_cuda>(OpKind::BATCHNORM2D_ACT);
  reg<batchnorm2d_act_bwd_cuda_adapter>(OpKind::BATCHNORM2D_ACT_BWD);
  reg<batchnorm2d_cuda>(OpKind::BATCHNORM2D);
  reg<batchnorm2d_bwd_cuda_adapter>(OpKind::BATCHNORM2D_BWD);
}

}  // namespace engine
