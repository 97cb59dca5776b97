#include "kernels/cuda/augment.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/launch.cuh"

namespace engine::kernels {
namespace {

// One block per image: the image's random choices are drawn once, by thread 0, into
// shared memory, and the block's threads write its C*H*W outputs.
__global__ void augment_images_kernel(float* out, const uint8_t* images, const int64_t* indices, AugmentParams p,
                                      CudaIndexError* err) {
  // Plain arrays: a __shared__ variable may not have a constructor that initialises.
  ENGINE_SHARED(int64_t, choice, [5]);  // crop_y, crop_x, flip, cutout_y, cutout_x
  ENGINE_SHARED(int, valid);
  const int64_t b = blockIdx.x;
  const int64_t idx = indices[b];
  if (threadIdx.x == 0) {
    valid = idx >= 0 && idx < p.N;
    if (valid) {
      const AugmentChoice c = augment_choice(p.key, idx, p.crop_padding, p.hflip, p.cutout_size, p.H, p.W);
      choice[0] = c.crop_y;
      choice[1] = c.crop_x;
      choice[2] = c.flip;
      choice[3] = c.cutout_y;
      choice[4] = c.cutout_x;
    } else {
      report_bad_index(err, idx, p.N);
    }
  }
  __syncthreads();
  const int64_t per = p.C * p.H * p.W;
  float* o = out + b * per;
  if (!valid) {
    for (int64_t i = threadIdx.x; i < per; i += blockDim.x) o[i] = 0.0f;
    return;
  }
  const uint8_t* img = images + idx * per;
  AugmentChoice d;
  d.crop_y = choice[0];
  d.crop_x = choice[1];
  d.flip = choice[2] != 0;
  d.cutout_y = choice[3];
  d.cutout_x = choice[4];
  for (int64_t i = threadIdx.x; i < per; i += blockDim.x) {
    const int64_t x = i % p.W, y = (i / p.W) % p.H, c = i / (p.W * p.H);
    o[i] = augment_pixel(img, p, d, c, y, x);
  }
}

}  // namespace

void augment_images_fwd_cuda(float* out, const uint8_t* images, const int64_t* indices, const AugmentParams& p,
                             CudaIndexError* err, cudaStream_t stream) {
  if (p.B == 0) return;
  ENGINE_LAUNCH(unsigned(p.B), kBlock, 0, stream, augment_images_kernel)(out, images, indices, p, err);
  ENGINE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace engine::kernels
