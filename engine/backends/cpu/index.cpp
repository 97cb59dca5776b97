// CPU adapters for the index family: gather, scatter-add, index-select, index-add,
// concat, dropout and top-k.
#include "kernels/cpu/index.h"

#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"

namespace engine {
namespace {
using namespace kernels;

void gather_cpu(const OpCall& c) {
  const Tensor &x = c.in[0], &idx = c.in[1], &y = c.out[0];
  const auto& a = c.get<GatherAttrs>();
  ENGINE_DISPATCH_FLOAT(y.dtype(), c.op,
                        gather_fwd_cpu<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), idx.data<int64_t>(), a.outer,
                                                 a.n_x, a.n_idx, a.inner));
}

void scatter_add_cpu(const OpCall& c) {
  const Tensor &base = c.in[0], &idx = c.in[1], &src = c.in[2], &y = c.out[0];
  const auto& a = c.get<GatherAttrs>();
  ENGINE_DISPATCH_FLOAT(y.dtype(), c.op,
                        scatter_add_fwd_cpu<scalar_t>(y.data<scalar_t>(), base.data<scalar_t>(), idx.data<int64_t>(),
                                                      src.data<scalar_t>(), a.outer, a.n_x, a.n_idx, a.inner));
}

void index_select_cpu(const OpCall& c) {
  const Tensor &x = c.in[0], &idx = c.in[1], &y = c.out[0];
  const auto& a = c.get<IndexAttrs>();
  if (y.dtype() == DType::bf16 || y.dtype() == DType::f16) {  // rows of 16-bit values, copied as bits
    index_select_fwd_cpu<uint16_t>(bits16(y), bits16(x), idx.data<int64_t>(), a.outer, a.n_x, a.n_idx, a.inner);
    return;
  }
  ENGINE_DISPATCH_FLOAT(y.dtype(), c.op,
                        index_select_fwd_cpu<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), idx.data<int64_t>(),
                                                       a.outer, a.n_x, a.n_idx, a.inner));
}

void index_add_cpu(const OpCall& c) {
  const Tensor &base = c.in[0], &idx = c.in[1], &src = c.in[2], &y = c.out[0];
  const auto& a = c.get<IndexAttrs>();
  ENGINE_DISPATCH_FLOAT(y.dtype(), c.op,
                        index_add_fwd_cpu<scalar_t>(y.data<scalar_t>(), base.data<scalar_t>(), idx.data<int64_t>(),
                                                    src.data<scalar_t>(), a.outer, a.n_x, a.n_idx, a.inner));
}

void concat_cpu(const OpCall& c) {
  const auto& a = c.get<ConcatAttrs>();
  std::vector<const void*> ptrs;
  for (const Tensor& x : c.in) ptrs.push_back(x.data_ptr());
  concat_fwd_cpu(c.out[0].data_ptr(), ptrs.data(), a.sizes.data(), int64_t(a.sizes.size()), a.outer, a.inner,
                 c.out[0].element_size());
}

void dropout_cpu(const OpCall& c) {
  const Tensor &x = c.in[0], &y = c.out[0], &mask = c.out[1];
  const auto& a = c.get<DropoutAttrs>();
  ENGINE_DISPATCH_FLOAT(y.dtype(), c.op,
                        dropout_fwd_cpu<scalar_t>(y.data<scalar_t>(), mask.data<uint8_t>(), x.data<scalar_t>(),
                                                  y.numel(), a.p, a.seed, a.offset));
}

void topk_cpu(const OpCall& c) {
  const Tensor &x = c.in[0], &values = c.out[0], &indices = c.out[1];
  const auto& a = c.get<TopKAttrs>();
  ENGINE_DISPATCH_FLOAT(x.dtype(), c.op,
                        topk_fwd_cpu<scalar_t>(values.data<scalar_t>(), indices.data<int64_t>(), x.data<scalar_t>(),
                                               a.outer, a.n, a.inner, a.k, a.largest));
}

}  // namespace

void register_cpu_index() {
  register_kernel(OpKind::GATHER, DeviceType::CPU, gather_cpu);
  register_kernel(OpKind::SCATTER_ADD, DeviceType::CPU, scatter_add_cpu);
  register_kernel(OpKind::INDEX_SELECT, DeviceType::CPU, index_select_cpu);
  register_kernel(OpKind::INDEX_ADD, DeviceType::CPU, index_add_cpu);
  register_kernel(OpKind::CONCAT, DeviceType::CPU, concat_cpu, kAllDTypes);
  register_kernel(OpKind::DROPOUT, DeviceType::CPU, dropout_cpu);
  register_kernel(OpKind::TOPK, DeviceType::CPU, topk_cpu);
}

}  // namespace engine
