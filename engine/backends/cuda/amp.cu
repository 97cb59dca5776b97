// CUDA adapter of the loss-scaling op: one launch per gradient on the compute stream,
// all raising the same device flag.
#include "engine/backends/cuda/adapter.h"
#include "kernels/cuda/amp.h"

namespace engine {
namespace {
using cuda_adapter::reg;
using cuda_adapter::stream_of;

void amp_unscale_cuda_adapter(const OpCall& c) {
  const double inv = c.get<AmpUnscaleAttrs>().inv_scale;
  float* flag = c.out[0].data<float>();
  cudaStream_t s = stream_of(c);
  for (size_t i = 1; i < c.out.size(); ++i) {
    const Tensor& g = c.out[i];
    ENGINE_CUDA_DISPATCH_FLOAT(g.dtype(), c.op,
                               kernels::amp_unscale_cuda<scalar_t>(g.data<scalar_t>(), g.numel(), inv, flag, s));
  }
}

}  // namespace

void register_cuda_amp() { reg<amp_unscale_cuda_adapter>(OpKind::AMP_UNSCALE); }

}  // namespace engine
