// CPU adapters for the mixture-of-experts family: routing and the grouped GEMMs.
#include "kernels/cpu/moe.h"

#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "kernels/cpu/moe_router.h"

namespace engine {
namespace {
using namespace kernels;

void moe_route_cpu(const OpCall& c) {
  const Tensor &idx = c.in[0], &prio = c.in[1];
  const auto& a = c.get<MoeRouteAttrs>();
  int64_t *row_token = c.out[0].data<int64_t>(), *row_slot = c.out[1].data<int64_t>(),
          *row_expert = c.out[2].data<int64_t>(), *offsets = c.out[3].data<int64_t>(),
          *counts = c.out[4].data<int64_t>();
  if (!prio.defined()) {
    moe_route_fwd_cpu<float>(row_token, row_slot, row_expert, offsets, counts, idx.data<int64_t>(), nullptr, a.p);
    return;
  }
  ENGINE_DISPATCH_FLOAT(prio.dtype(), c.op,
                        moe_route_fwd_cpu<scalar_t>(row_token, row_slot, row_expert, offsets, counts,
                                                    idx.data<int64_t>(), prio.data<scalar_t>(), a.p));
}

void moe_grouped_matmul_cpu(const OpCall& c) {
  const Tensor &x = c.in[0], &w = c.in[1], &offsets = c.in[2], &y = c.out[0];
  if (y.dtype() == DType::bf16)
    return moe_grouped_matmul_fwd_cpu<uint16_t>(bits16(y), bits16(x), bits16(w), offsets.data<int64_t>(),
                                                c.get<MoeGroupedMatmulAttrs>().p);
  ENGINE_DISPATCH_FLOAT(
      y.dtype(), c.op,
      moe_grouped_matmul_fwd_cpu<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(),
                                           offsets.data<int64_t>(), c.get<MoeGroupedMatmulAttrs>().p));
}

void moe_grouped_matmul_bwd_data_cpu_adapter(const OpCall& c) {
  const Tensor &gy = c.in[0], &w = c.in[1], &offsets = c.in[2], &gx = c.out[0];
  if (gx.dtype() == DType::bf16)
    return moe_grouped_matmul_bwd_data_cpu<uint16_t>(bits16(gx), bits16(gy), bits16(w), offsets.data<int64_t>(),
                                                     c.get<MoeGroupedMatmulAttrs>().p);
  ENGINE_DISPATCH_FLOAT(
      gx.dtype(), c.op,
      moe_grouped_matmul_bwd_data_cpu<scalar_t>(gx.data<scalar_t>(), gy.data<scalar_t>(), w.data<scalar_t>(),
                                                offsets.data<int64_t>(), c.get<MoeGroupedMatmulAttrs>().p));
}

void moe_grouped_matmul_bwd_weight_cpu_adapter(const OpCall& c) {
  const Tensor &x = c.in[0], &gy = c.in[1], &offsets = c.in[2], &gw = c.out[0];
  if (gw.dtype() == DType::bf16)
    return moe_grouped_matmul_bwd_weight_cpu<uint16_t>(bits16(gw), bits16(x), bits16(gy), offsets.data<int64_t>(),
                                                       c.get<MoeGroupedMatmulAttrs>().p);
  ENGINE_DISPATCH_FLOAT(
      gw.dtype(), c.op,
      moe_grouped_matmul_bwd_weight_cpu<scalar_t>(gw.data<scalar_t>(), x.data<scalar_t>(), gy.data<scalar_t>(),
                                                  offsets.data<int64_t>(), c.get<MoeGroupedMatmulAttrs>().p));
}

void moe_router_topk_cpu(const OpCall& c) {
  const Tensor &x = c.in[0], &w = c.in[1];
  ENGINE_DISPATCH_FLOAT(
      x.dtype(), c.op,
      moe_router_fwd_cpu<scalar_t>(c.out[0].data<scalar_t>(), c.out[1].data<scalar_t>(), c.out[2].data<int64_t>(),
                                   c.out[3].data<scalar_t>(), c.out[4].data<scalar_t>(), x.data<scalar_t>(),
                                   w.data<scalar_t>(), c.get<MoeRouterAttrs>().p));
}

void moe_router_topk_bwd_cpu(const OpCall& c) {
  const Tensor &x = c.in[0], &w = c.in[1];
  ENGINE_DISPATCH_FLOAT(x.dtype(), c.op,
                        moe_router_bwd_cpu<scalar_t>(c.out[0].data<scalar_t>(), c.out[1].data<scalar_t>(),
                                                     x.data<scalar_t>(), w.data<scalar_t>(), c.in[2].data<scalar_t>(),
                                                     c.in[3].data<int64_t>(), c.in[4].data<scalar_t>(),
                                                     data_or_null<scalar_t>(c.in[5]), data_or_null<scalar_t>(c.in[6]),
                                                     data_or_null<scalar_t>(c.in[7]), c.get<MoeRouterAttrs>().p));
}

}  // namespace

void register_cpu_moe() {
  register_kernel(OpKind::MOE_ROUTER_TOPK, DeviceType::CPU, moe_router_topk_cpu);
  register_kernel(OpKind::MOE_ROUTER_TOPK_BWD, DeviceType::CPU, moe_router_topk_bwd_cpu);
  register_kernel(OpKind::MOE_ROUTE, DeviceType::CPU, moe_route_cpu);
  register_kernel(OpKind::MOE_GROUPED_MATMUL, DeviceType::CPU, moe_grouped_matmul_cpu);
  register_kernel(OpKind::MOE_GROUPED_MATMUL_BWD_DATA, DeviceType::CPU, moe_grouped_matmul_bwd_data_cpu_adapter);
  register_kernel(OpKind::MOE_GROUPED_MATMUL_BWD_WEIGHT, DeviceType::CPU, moe_grouped_matmul_bwd_weight_cpu_adapter);
}

}  // namespace engine
