#include "kernels/cpu/augment.h"

#include "base/check.h"

namespace engine::kernels {

void augment_images_fwd_cpu(float* out, const uint8_t* images, const int64_t* indices, const AugmentParams& p) {
  // Checked before the parallel loop: an exception cannot leave an OpenMP region.
  for (int64_t b = 0; b < p.B; ++b)
    ENGINE_CHECK(indices[b] >= 0 && indices[b] < p.N, "op augment_images: index " << indices[b] << " at position " << b
                                                                                  << " is out of range [0, " << p.N
                                                                                  << ")");
  const int64_t per = p.C * p.H * p.W;
#pragma omp parallel for if (p.B * per >= (1 << 16))
  for (int64_t b = 0; b < p.B; ++b) {
    const int64_t idx = indices[b];
    const AugmentChoice d = augment_choice(p.key, idx, p.crop_padding, p.hflip, p.cutout_size, p.H, p.W);
    const uint8_t* img = images + idx * per;
    float* o = out + b * per;
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t y = 0; y < p.H; ++y)
        for (int64_t x = 0; x < p.W; ++x) o[(c * p.H + y) * p.W + x] = augment_pixel(img, p, d, c, y, x);
  }
}

}  // namespace engine::kernels
