// CPU adapter for the batch augmentation op.
#include "kernels/cpu/augment.h"

#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"

namespace engine {
namespace {

void augment_images_cpu_adapter(const OpCall& c) {
  kernels::augment_images_fwd_cpu(c.out[0].data<float>(), c.in[0].data<uint8_t>(), c.in[1].data<int64_t>(),
                                  c.get<AugmentImagesAttrs>().p);
}

}  // namespace

void register_cpu_augment() { register_kernel(OpKind::AUGMENT_IMAGES, DeviceType::CPU, augment_images_cpu_adapter); }

}  // namespace engine
