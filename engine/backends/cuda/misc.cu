// CUDA adapters for copies, fills and random fills.
#include "engine/backends/cuda/adapter.h"
#include "kernels/cuda/elementwise.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

void copy_cuda_adapter(const OpCall& c) {
  const Tensor &src = c.in[0], &dst = c.out[0];
  copy_cuda(dst.data_ptr(), dst.dtype(), layout_of(dst), src.data_ptr(), src.dtype(), layout_of(src), dst.numel(),
            stream_of(c));
}

void fill_cuda_adapter(const OpCall& c) {
  const Tensor& dst = c.out[0];
  fill_cuda(dst.data_ptr(), dst.dtype(), layout_of(dst), c.get<FillAttrs>().value, dst.numel(), stream_of(c));
}

void rng_uniform_adapter(const OpCall& c) {
  const auto& a = c.get<RngAttrs>();
  const Tensor& y = c.out[0];
  rng_uniform_cuda(y.data_ptr(), y.dtype(), y.numel(), a.seed, a.offset, a.a, a.b, stream_of(c));
}

void rng_normal_adapter(const OpCall& c) {
  const auto& a = c.get<RngAttrs>();
  const Tensor& y = c.out[0];
  rng_normal_cuda(y.data_ptr(), y.dtype(), y.numel(), a.seed, a.offset, a.a, a.b, stream_of(c));
}

}  // namespace

void register_cuda_misc() {
  reg<copy_cuda_adapter>(OpKind::COPY, kAllDTypes);
  reg<fill_cuda_adapter>(OpKind::FILL, kAllDTypes);
  reg<rng_uniform_adapter>(OpKind::RNG_UNIFORM);
  reg<rng_normal_adapter>(OpKind::RNG_NORMAL);
}

}  // namespace engine
