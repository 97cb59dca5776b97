#pragma once
// Batch augmentation from u8 images (kernels/augment_common.h describes the math).
#include <cstdint>

#include "kernels/augment_common.h"

namespace engine::kernels {

// out f32 [B, C, H, W] from images [N, C, H, W] (or [N, H, W, C]) at `indices` [B];
// throws on an index outside [0, N).
void augment_images_fwd_cpu(float* out, const uint8_t* images, const int64_t* indices, const AugmentParams& p);

}  // namespace engine::kernels
