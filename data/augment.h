#pragma once
// Training-time augmentation and normalisation of u8 images into f32.
// Every random choice for an image is a pure function of (seed, epoch, dataset index)
// through Philox, so a batch is the same whatever the batching, thread count or
// prefetch timing, and a resumed run sees the same augmentations.
#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "kernels/augment_common.h"

namespace engine::data {

struct AugmentOptions {
  // Random HxW crop of the image zero-padded by this many pixels per side (0: off).
  // Padding is black pixels, before normalisation, as torchvision's RandomCrop does.
  int64_t crop_padding = 0;
  bool horizontal_flip = false;  // mirror with probability 1/2
  // Cutout (DeVries & Taylor 2017): a square of this side, centred uniformly in the
  // image and clipped at its borders, set to 0 after normalisation (0: off).
  int64_t cutout_size = 0;

  bool any() const { return crop_padding > 0 || horizontal_flip || cutout_size > 0; }
};

// Per-channel (x / 255 - mean[c]) / std[c]. Empty vectors mean 0 and 1; a single
// value applies to every channel. Each dataset's values: data::dataset_normalization
// (data/registry.h).
struct Normalization {
  std::vector<float> mean;
  std::vector<float> std;
};

// The random choices for one image.
struct AugmentDraw {
  int64_t crop_y = 0, crop_x = 0;  // top-left of the crop in the padded image
  bool flip = false;
  int64_t cutout_y = -1, cutout_x = -1;  // centre of the cutout square; -1 when off
};

// The Philox key of an epoch's augmentations, and the kernel parameters for a batch
// (channels at most kernels::kAugmentMaxChannels; N and B are left to the caller).
uint64_t augment_key(uint64_t seed, int64_t epoch);
kernels::AugmentParams augment_params(const AugmentOptions& opt, const Normalization& norm, int64_t channels,
                                      int64_t height, int64_t width, uint64_t seed, int64_t epoch);

AugmentDraw draw_augment(const AugmentOptions& opt, int64_t height, int64_t width, uint64_t seed, int64_t epoch,
                         int64_t index);

// Writes one f32 [C, H, W] image from a u8 [C, H, W] source.
void augment_image(const uint8_t* src, int64_t channels, int64_t height, int64_t width, const AugmentOptions& opt,
                   const Normalization& norm, const AugmentDraw& draw, float* dst);

// f32 [B, C, H, W] from the dataset's records `indices`: augmented with `opt` (pass
// AugmentOptions{} for evaluation) and normalised. num_threads > 1 uses OpenMP.
Tensor make_batch_images(const Dataset& d, const std::vector<int64_t>& indices, const AugmentOptions& opt,
                         const Normalization& norm, uint64_t seed, int64_t epoch, int num_threads = 1);
// The same into `out`, a contiguous f32 CPU tensor [B, C, H, W] (pinned staging memory, say).
void make_batch_images_into(const Tensor& out, const Dataset& d, const std::vector<int64_t>& indices,
                            const AugmentOptions& opt, const Normalization& norm, uint64_t seed, int64_t epoch,
                            int num_threads = 1);

// Throws when the sizes do not fit `channels` or a std is not positive.
void check_normalization(const Normalization& norm, int64_t channels);

}  // namespace engine::data
