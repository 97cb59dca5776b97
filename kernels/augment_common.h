#pragma once
// Image augmentation shared by the CPU and CUDA kernels (and data/augment.cpp, the
// host loader): the random choices of one image and the value of one output pixel, as
// host/device inline functions so that every path computes the same floats.
//
// The choices for dataset record `index` come from Philox words index * 8 + k of the
// epoch's key: k = 0, 1 crop offsets, 2 flip, 3, 4 cutout centre.
#include <cstdint>

#include "base/params.h"
#include "base/rng.h"

namespace engine::kernels {

struct AugmentChoice {
  int64_t crop_y = 0, crop_x = 0;  // top-left of the crop in the padded image
  bool flip = false;
  int64_t cutout_y = -1, cutout_x = -1;  // centre of the cutout square; -1 when off
};

// Uniform integer in [0, m) from one 32-bit word (multiply-shift; the bias is below
// 2^-32 * m, irrelevant for pixel offsets).
ENGINE_HD int64_t augment_below(uint32_t word, int64_t m) { return int64_t((uint64_t(word) * uint64_t(m)) >> 32); }

ENGINE_HD AugmentChoice augment_choice(uint64_t key, int64_t index, int64_t crop_padding, bool hflip,
                                       int64_t cutout_size, int64_t H, int64_t W) {
  const uint64_t base = uint64_t(index) * kAugmentWordsPerImage;
  AugmentChoice d;
  if (crop_padding > 0) {
    d.crop_y = augment_below(philox_word(key, base + 0), 2 * crop_padding + 1);
    d.crop_x = augment_below(philox_word(key, base + 1), 2 * crop_padding + 1);
  }
  d.flip = hflip && (philox_word(key, base + 2) >> 31) != 0;
  if (cutout_size > 0) {
    d.cutout_y = augment_below(philox_word(key, base + 3), H);
    d.cutout_x = augment_below(philox_word(key, base + 4), W);
  }
  return d;
}

// Output pixel (c, y, x) of one image whose u8 pixels start at `img`.
ENGINE_HD float augment_pixel(const uint8_t* img, const AugmentParams& p, const AugmentChoice& d, int64_t c, int64_t y,
                              int64_t x) {
  if (p.cutout_size > 0 && d.cutout_y >= 0) {
    const int64_t y0 = d.cutout_y - p.cutout_size / 2, x0 = d.cutout_x - p.cutout_size / 2;
    if (y >= y0 && y < y0 + p.cutout_size && x >= x0 && x < x0 + p.cutout_size) return 0.0f;
  }
  const int64_t pad = p.crop_padding > 0 ? p.crop_padding : 0;
  const int64_t sy = y + d.crop_y - pad, sx = (d.flip ? p.W - 1 - x : x) + d.crop_x - pad;
  // A padded (black) pixel normalises to shift.
  if (sy < 0 || sy >= p.H || sx < 0 || sx >= p.W) return p.shift[c];
  const uint8_t v = p.nhwc ? img[(sy * p.W + sx) * p.C + c] : img[(c * p.H + sy) * p.W + sx];
#if defined(__CUDA_ARCH__)
  // Rounded multiply then add, as the CPU does: no fused multiply-add, equal bits.
  return __fadd_rn(__fmul_rn(float(v), p.scale[c]), p.shift[c]);
#else
  return float(v) * p.scale[c] + p.shift[c];
#endif
}

}  // namespace engine::kernels
