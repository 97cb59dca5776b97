// CUDA adapters for reductions.
#include "engine/backends/cuda/adapter.h"
#include "kernels/cuda/reduce.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

void reduce_cuda(const OpCall& c) {
  const auto& a = c.get<ReduceAttrs>();
  const Tensor &x = c.in[0], &y = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(x.dtype(), c.op,
                             reduce_rows_cuda<scalar_t>(reduce_op(c.op), y.data<scalar_t>(), x.data<scalar_t>(),
                                                        a.outer, a.inner, a.correction, stream_of(c)));
}

void argmax_cuda(const OpCall& c) {
  const auto& a = c.get<ReduceAttrs>();
  const Tensor &x = c.in[0], &y = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(
      x.dtype(), c.op,
      argmax_rows_cuda<scalar_t>(y.data<int64_t>(), x.data<scalar_t>(), a.outer, a.inner, stream_of(c)));
}

}  // namespace

void register_cuda_reduce() {
  for (OpKind k : {OpKind::SUM, OpKind::MEAN, OpKind::MAX, OpKind::VAR}) reg<reduce_cuda>(k);
  reg<argmax_cuda>(OpKind::ARGMAX);
}

}  // namespace engine
