// CUDA adapters for the mixture-of-experts family: routing and the grouped GEMMs.
#include "engine/ops/cuda_adapter.h"
#include "kernels/cuda/moe.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::op_device;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

CudaIndexError* err_of(const OpCall& c) { return runtime::cuda::index_error_record(op_device(c)); }

void moe_route_cuda(const OpCall& c) {
  const Tensor &idx = c.in[0], &prio = c.in[1];
  const auto& a = c.get<MoeRouteAttrs>();
  int64_t *row_token = c.out[0].data<int64_t>(), *row_slot = c.out[1].data<int64_t>(),
          *row_expert = c.out[2].data<int64_t>(), *offsets = c.out[3].data<int64_t>(),
          *counts = c.out[4].data<int64_t>();
  Tensor scratch = Tensor::empty({a.p.T * a.p.k + a.p.E + 1}, DType::i64, idx.device());
  if (!prio.defined()) {
    moe_route_fwd_cuda<float>(row_token, row_slot, row_expert, offsets, counts, idx.data<int64_t>(), nullptr,
                              scratch.data<int64_t>(), a.p, err_of(c), stream_of(c));
    return;
  }
  ENGINE_CUDA_DISPATCH_F32_F64(prio.dtype(), c.op,
                               moe_route_fwd_cuda<scalar_t>(row_token, row_slot, row_expert, offsets, counts,
                                                            idx.data<int64_t>(), prio.data<scalar_t>(),
                                                            scratch.data<int64_t>(), a.p, err_of(c), stream_of(c)));
}

void moe_grouped_matmul_cuda(const OpCall& c) {
  const Tensor &x = c.in[0], &w = c.in[1], &offsets = c.in[2], &y = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(y.dtype(), c.op,
                             moe_grouped_matmul_fwd_cuda<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(),
                                                                   w.data<scalar_t>(), offsets.data<int64_t>(),
                                                                   c.get<MoeGroupedMatmulAttrs>().p, err_of(c),
                                                                   stream_of(c)));
}

void moe_grouped_matmul_bwd_data_cuda_adapter(const OpCall& c) {
  const Tensor &gy = c.in[0], &w = c.in[1], &offsets = c.in[2], &gx = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(gx.dtype(), c.op,
                             moe_grouped_matmul_bwd_data_cuda<scalar_t>(gx.data<scalar_t>(), gy.data<scalar_t>(),
                                                                        w.data<scalar_t>(), offsets.data<int64_t>(),
                                                                        c.get<MoeGroupedMatmulAttrs>().p, err_of(c),
                                                                        stream_of(c)));
}

void moe_grouped_matmul_bwd_weight_cuda_adapter(const OpCall& c) {
  const Tensor &x = c.in[0], &gy = c.in[1], &offsets = c.in[2], &gw = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(gw.dtype(), c.op,
                             moe_grouped_matmul_bwd_weight_cuda<scalar_t>(gw.data<scalar_t>(), x.data<scalar_t>(),
                                                                          gy.data<scalar_t>(), offsets.data<int64_t>(),
                                                                          c.get<MoeGroupedMatmulAttrs>().p, err_of(c),
                                                                          stream_of(c)));
}

}  // namespace

void register_cuda_moe() {
  reg<moe_route_cuda>(OpKind::MOE_ROUTE);
  reg<moe_grouped_matmul_cuda>(OpKind::MOE_GROUPED_MATMUL);
  reg<moe_grouped_matmul_bwd_data_cuda_adapter>(OpKind::MOE_GROUPED_MATMUL_BWD_DATA);
  reg<moe_grouped_matmul_bwd_weight_cuda_adapter>(OpKind::MOE_GROUPED_MATMUL_BWD_WEIGHT);
}

}  // namespace engine
