// CUDA adapter for the batch augmentation op.
#include "engine/backends/cuda/adapter.h"
#include "kernels/cuda/augment.h"

namespace engine {
namespace {
using cuda_adapter::op_device;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

void augment_images_cuda_adapter(const OpCall& c) {
  kernels::augment_images_fwd_cuda(c.out[0].data<float>(), c.in[0].data<uint8_t>(), c.in[1].data<int64_t>(),
                                   c.get<AugmentImagesAttrs>().p, runtime::cuda::index_error_record(op_device(c)),
                                   stream_of(c));
}

}  // namespace

void register_cuda_augment() { reg<augment_images_cuda_adapter>(OpKind::AUGMENT_IMAGES); }

}  // namespace engine
