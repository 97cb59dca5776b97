#pragma once
// CIFAR-C style corruptions (after Hendrycks & Dietterich 2019), implemented here on
// u8 [N, C, H, W] images with C = 1 (grey) or 3 (RGB), at severities 1..5. Noise is
// drawn by Philox from (seed, corruption, severity, image index, pixel), so a
// corrupted image does not depend on batching or threads.
//
//   gaussian_noise  x + N(0, s^2), s = 0.04 0.06 0.08 0.09 0.10 (on [0, 1])
//   shot_noise      Poisson(x * lambda) / lambda, lambda = 500 250 100 75 50
//   impulse_noise   salt and pepper on a fraction 0.01 0.02 0.03 0.05 0.07 of values
//   defocus_blur    mean over a disc of radius 0.75 1.0 1.25 1.75 2.25 pixels
//                   (weights = the disc's area over each pixel), edges mirrored
//   contrast        (x - mean) * c + mean per channel, c = 0.75 0.5 0.4 0.3 0.15
//   brightness      HSV value + 0.05 0.1 0.15 0.2 0.3 (clipped at 1; hue and saturation kept)
//   pixelate        box-average to 0.9 0.8 0.7 0.6 0.5 of the size, then nearest upsampling
//                   (wider steps than CIFAR-C's 0.95..0.65: neighbouring grid sizes alias
//                   differently, and close steps would not order the distortion reliably)
//   jpeg            8x8 DCT of Y (and Cb, Cr for RGB), the JPEG quantisation tables
//                   scaled to quality 80 65 58 50 40, rounding, inverse DCT
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "engine/core/tensor.h"

namespace engine::data {

enum class Corruption { gaussian_noise, shot_noise, impulse_noise, defocus_blur, contrast, brightness, pixelate, jpeg };

constexpr int kNumSeverities = 5;

const std::vector<Corruption>& all_corruptions();
std::string corruption_name(Corruption c);
// Throws naming the valid names when `name` is not one of them.
Corruption corruption_from_name(const std::string& name);

// A corrupted copy of u8 [N, C, H, W] CPU images. first_index is the dataset index of
// image 0, so that corrupting a slice gives the same pixels as corrupting the whole.
Tensor corrupt_images(const Tensor& images, Corruption c, int severity, uint64_t seed, int64_t first_index = 0);

// The dataset with its images corrupted (labels and names shared).
Dataset corrupt_dataset(const Dataset& d, Corruption c, int severity, uint64_t seed);

}  // namespace engine::data
