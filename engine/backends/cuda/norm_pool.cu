// CUDA adapters for pooling. Batch normalisation, plain and fused, is in
// cuda_norm_act.cu.
#include "engine/backends/cuda/adapter.h"
#include "kernels/cuda/pool.h"
#include "kernels/cuda/reduce.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

void maxpool2d_cuda(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& x = c.in[0];
  ENGINE_CUDA_DISPATCH_FLOAT(x.dtype(), c.op,
                             maxpool2d_fwd_cuda<scalar_t>(p, c.out[0].data<scalar_t>(), c.out[1].data<int64_t>(),
                                                          x.data<scalar_t>(), stream_of(c)));
}

void maxpool2d_bwd_cuda_adapter(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& gx = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(gx.dtype(), c.op,
                             maxpool2d_bwd_cuda<scalar_t>(p, gx.data<scalar_t>(), c.in[0].data<scalar_t>(),
                                                          c.in[1].data<int64_t>(), stream_of(c)));
}

void avgpool2d_cuda(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& x = c.in[0];
  ENGINE_CUDA_DISPATCH_FLOAT(
      x.dtype(), c.op, avgpool2d_fwd_cuda<scalar_t>(p, c.out[0].data<scalar_t>(), x.data<scalar_t>(), stream_of(c)));
}

void avgpool2d_bwd_cuda_adapter(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& gx = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(
      gx.dtype(), c.op, avgpool2d_bwd_cuda<scalar_t>(p, gx.data<scalar_t>(), c.in[0].data<scalar_t>(), stream_of(c)));
}

// The mean of each plane: a row reduction over [N * C, H * W] (NCHW).
void global_avgpool_cuda(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& x = c.in[0];
  if (p.channels_last) {
    ENGINE_CUDA_DISPATCH_FLOAT(x.dtype(), c.op,
                               global_avgpool_fwd_nhwc_cuda<scalar_t>(c.out[0].data<scalar_t>(), x.data<scalar_t>(),
                                                                      p.N, p.H * p.W, p.C, stream_of(c)));
    return;
  }
  ENGINE_CUDA_DISPATCH_FLOAT(x.dtype(), c.op,
                             reduce_rows_cuda<scalar_t>(ReduceOp::Mean, c.out[0].data<scalar_t>(), x.data<scalar_t>(),
                                                        p.N * p.C, p.H * p.W, 0, stream_of(c)));
}

}  // namespace

void register_cuda_norm_pool() {
  reg<maxpool2d_cuda>(OpKind::MAXPOOL2D);
  reg<maxpool2d_bwd_cuda_adapter>(OpKind::MAXPOOL2D_BWD);
  reg<avgpool2d_cuda>(OpKind::AVGPOOL2D);
  reg<avgpool2d_bwd_cuda_adapter>(OpKind::AVGPOOL2D_BWD);
  reg<global_avgpool_cuda>(OpKind::GLOBAL_AVGPOOL);
}

}  // namespace engine
