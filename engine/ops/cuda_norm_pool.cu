// CUDA adapters for batch normalisation and pooling. Optional tensors (gamma, beta,
// running statistics, unwanted gradients) arrive undefined and reach the kernels as null.
#include "engine/ops/cuda_adapter.h"
#include "kernels/cuda/batchnorm.h"
#include "kernels/cuda/norm_nhwc.h"
#include "kernels/cuda/pool.h"
#include "kernels/cuda/pool_nhwc.h"
#include "kernels/cuda/reduce.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

template <class T>
T* opt(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// The per-slice partial sums of the NHWC batch norm kernels live in the op workspace.
double* nhwc_scratch(const OpCall& c, const BatchNormParams& p) {
  return static_cast<double*>(runtime::cuda::workspace(cuda_adapter::op_device(c), batchnorm2d_nhwc_scratch_bytes(p)));
}

void batchnorm2d_cuda(const OpCall& c) {
  const auto& p = c.get<BatchNormAttrs>().p;
  const Tensor &x = c.in[0], &y = c.out[0];
  if (p.channels_last) {
    ENGINE_CUDA_DISPATCH_FLOAT(x.dtype(), c.op,
                               batchnorm2d_fwd_nhwc_cuda<scalar_t>(
                                   p, y.data<scalar_t>(), c.out[1].data<scalar_t>(), c.out[2].data<scalar_t>(),
                                   x.data<scalar_t>(), opt<scalar_t>(c.in[1]), opt<scalar_t>(c.in[2]),
                                   opt<scalar_t>(c.in[3]), opt<scalar_t>(c.in[4]), nhwc_scratch(c, p), stream_of(c)));
    return;
  }
  ENGINE_CUDA_DISPATCH_FLOAT(x.dtype(), c.op,
                             batchnorm2d_fwd_cuda<scalar_t>(p, y.data<scalar_t>(), c.out[1].data<scalar_t>(),
                                                            c.out[2].data<scalar_t>(), x.data<scalar_t>(),
                                                            opt<scalar_t>(c.in[1]), opt<scalar_t>(c.in[2]),
                                                            opt<scalar_t>(c.in[3]), opt<scalar_t>(c.in[4]),
                                                            stream_of(c)));
}

void batchnorm2d_bwd_cuda_adapter(const OpCall& c) {
  const auto& p = c.get<BatchNormAttrs>().p;
  const Tensor& x = c.in[1];
  if (p.channels_last) {
    ENGINE_CUDA_DISPATCH_FLOAT(x.dtype(), c.op,
                               batchnorm2d_bwd_nhwc_cuda<scalar_t>(
                                   p, opt<scalar_t>(c.out[0]), opt<scalar_t>(c.out[1]), opt<scalar_t>(c.out[2]),
                                   c.in[0].data<scalar_t>(), x.data<scalar_t>(), opt<scalar_t>(c.in[2]),
                                   c.in[3].data<scalar_t>(), c.in[4].data<scalar_t>(), nhwc_scratch(c, p),
                                   stream_of(c)));
    return;
  }
  ENGINE_CUDA_DISPATCH_FLOAT(x.dtype(), c.op,
                             batchnorm2d_bwd_cuda<scalar_t>(p, opt<scalar_t>(c.out[0]), opt<scalar_t>(c.out[1]),
                                                            opt<scalar_t>(c.out[2]), c.in[0].data<scalar_t>(),
                                                            x.data<scalar_t>(), opt<scalar_t>(c.in[2]),
                                                            c.in[3].data<scalar_t>(), c.in[4].data<scalar_t>(),
                                                            stream_of(c)));
}

void maxpool2d_cuda(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& x = c.in[0];
  ENGINE_CUDA_DISPATCH_FLOAT(x.dtype(), c.op,
                             (p.channels_last ? maxpool2d_fwd_nhwc_cuda<scalar_t> : maxpool2d_fwd_cuda<scalar_t>)(
                                 p, c.out[0].data<scalar_t>(), c.out[1].data<int64_t>(), x.data<scalar_t>(),
                                 stream_of(c)));
}

void maxpool2d_bwd_cuda_adapter(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& gx = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(gx.dtype(), c.op,
                             (p.channels_last ? maxpool2d_bwd_nhwc_cuda<scalar_t> : maxpool2d_bwd_cuda<scalar_t>)(
                                 p, gx.data<scalar_t>(), c.in[0].data<scalar_t>(), c.in[1].data<int64_t>(),
                                 stream_of(c)));
}

void avgpool2d_cuda(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& x = c.in[0];
  ENGINE_CUDA_DISPATCH_FLOAT(x.dtype(), c.op,
                             (p.channels_last ? avgpool2d_fwd_nhwc_cuda<scalar_t> : avgpool2d_fwd_cuda<scalar_t>)(
                                 p, c.out[0].data<scalar_t>(), x.data<scalar_t>(), stream_of(c)));
}

void avgpool2d_bwd_cuda_adapter(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& gx = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(gx.dtype(), c.op,
                             (p.channels_last ? avgpool2d_bwd_nhwc_cuda<scalar_t> : avgpool2d_bwd_cuda<scalar_t>)(
                                 p, gx.data<scalar_t>(), c.in[0].data<scalar_t>(), stream_of(c)));
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
  reg<batchnorm2d_cuda>(OpKind::BATCHNORM2D);
  reg<batchnorm2d_bwd_cuda_adapter>(OpKind::BATCHNORM2D_BWD);
  reg<maxpool2d_cuda>(OpKind::MAXPOOL2D);
  reg<maxpool2d_bwd_cuda_adapter>(OpKind::MAXPOOL2D_BWD);
  reg<avgpool2d_cuda>(OpKind::AVGPOOL2D);
  reg<avgpool2d_bwd_cuda_adapter>(OpKind::AVGPOOL2D_BWD);
  reg<global_avgpool_cuda>(OpKind::GLOBAL_AVGPOOL);
}

}  // namespace engine
