#pragma once
// Batch augmentation on the device (kernels/augment_common.h describes the math).
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/augment_common.h"
#include "kernels/cuda/check.h"

namespace engine::kernels {

// out f32 [B, C, H, W] from device images at device `indices` [B]. An index outside
// [0, N) is reported through err and its image is written as zeros.
void augment_images_fwd_cuda(float* out, const uint8_t* images, const int64_t* indices, const AugmentParams& p,
                             CudaIndexError* err, cudaStream_t stream);

}  // namespace engine::kernels
