// CUDA adapters for the index family: gather, scatter-add, index-select, index-add,
// concat, dropout and top-k.
#include <vector>

#include "engine/backends/cuda/adapter.h"
#include "kernels/cuda/index.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::op_device;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

CudaIndexError* err_of(const OpCall& c) { return runtime::cuda::index_error_record(op_device(c)); }

void gather_cuda(const OpCall& c) {
  const Tensor &x = c.in[0], &idx = c.in[1], &y = c.out[0];
  const auto& a = c.get<GatherAttrs>();
  ENGINE_CUDA_DISPATCH_FLOAT(y.dtype(), c.op,
                             gather_fwd_cuda<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), idx.data<int64_t>(),
                                                       a.outer, a.n_x, a.n_idx, a.inner, err_of(c), stream_of(c)));
}

void scatter_add_cuda(const OpCall& c) {
  const Tensor &base = c.in[0], &idx = c.in[1], &src = c.in[2], &y = c.out[0];
  const auto& a = c.get<GatherAttrs>();
  ENGINE_CUDA_DISPATCH_F32_F64(
      y.dtype(), c.op,
      scatter_add_fwd_cuda<scalar_t>(y.data<scalar_t>(), base.data<scalar_t>(), idx.data<int64_t>(),
                                     src.data<scalar_t>(), a.outer, a.n_x, a.n_idx, a.inner, err_of(c), stream_of(c)));
}

void index_select_cuda(const OpCall& c) {
  const Tensor &x = c.in[0], &idx = c.in[1], &y = c.out[0];
  const auto& a = c.get<IndexAttrs>();
  ENGINE_CUDA_DISPATCH_FLOAT(
      y.dtype(), c.op,
      index_select_fwd_cuda<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), idx.data<int64_t>(), a.outer, a.n_x,
                                      a.n_idx, a.inner, err_of(c), stream_of(c)));
}

void index_add_cuda(const OpCall& c) {
  const Tensor &base = c.in[0], &idx = c.in[1], &src = c.in[2], &y = c.out[0];
  const auto& a = c.get<IndexAttrs>();
  ENGINE_CUDA_DISPATCH_F32_F64(
      y.dtype(), c.op,
      index_add_fwd_cuda<scalar_t>(y.data<scalar_t>(), base.data<scalar_t>(), idx.data<int64_t>(), src.data<scalar_t>(),
                                   a.outer, a.n_x, a.n_idx, a.inner, err_of(c), stream_of(c)));
}

void concat_cuda(const OpCall& c) {
  const auto& a = c.get<ConcatAttrs>();
  ENGINE_CHECK(a.sizes.size() == c.in.size(),
               "op concat: " << c.in.size() << " inputs but " << a.sizes.size() << " sizes");
  std::vector<const void*> ptrs;
  for (const Tensor& x : c.in) ptrs.push_back(x.data_ptr());
  concat_fwd_cuda(c.out[0].data_ptr(), ptrs.data(), a.sizes.data(), int64_t(a.sizes.size()), a.outer, a.inner,
                  c.out[0].element_size(), stream_of(c));
}

void dropout_cuda(const OpCall& c) {
  const Tensor &x = c.in[0], &y = c.out[0], &mask = c.out[1];
  const auto& a = c.get<DropoutAttrs>();
  ENGINE_CUDA_DISPATCH_FLOAT(y.dtype(), c.op,
                             dropout_fwd_cuda<scalar_t>(y.data<scalar_t>(), mask.data<uint8_t>(), x.data<scalar_t>(),
                                                        y.numel(), a.p, a.seed, a.offset, stream_of(c)));
}

void topk_cuda(const OpCall& c) {
  const Tensor &x = c.in[0], &values = c.out[0], &indices = c.out[1];
  const auto& a = c.get<TopKAttrs>();
  ENGINE_CUDA_DISPATCH_FLOAT(
      x.dtype(), c.op,
      topk_fwd_cuda<scalar_t>(values.data<scalar_t>(), indices.data<int64_t>(), x.data<scalar_t>(), a.outer, a.n,
                              a.inner, a.k, a.largest, stream_of(c)));
}

}  // namespace

void register_cuda_index() {
  reg<gather_cuda>(OpKind::GATHER);
  reg<scatter_add_cuda>(OpKind::SCATTER_ADD, kF32F64);
  reg<index_select_cuda>(OpKind::INDEX_SELECT);
  reg<index_add_cuda>(OpKind::INDEX_ADD, kF32F64);
  reg<concat_cuda>(OpKind::CONCAT, kAllDTypes);
  reg<dropout_cuda>(OpKind::DROPOUT);
  reg<topk_cuda>(OpKind::TOPK);
}

}  // namespace engine
