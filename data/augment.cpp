#include "data/augment.h"

#include <algorithm>
#include <cmath>

#include "engine/core/rng.h"

namespace engine::data {
namespace {

constexpr uint64_t kAugmentTag = 0x6175676d656e74ull;  // "augment"
constexpr uint64_t kWordsPerImage = 8;

// Uniform integer in [0, m) from one 32-bit word (multiply-shift; the bias is
// below 2^-32 * m, irrelevant for pixel offsets).
int64_t below(uint32_t word, int64_t m) { return int64_t((uint64_t(word) * uint64_t(m)) >> 32); }

float channel_value(const std::vector<float>& v, int64_t c, float fallback) {
  if (v.empty()) return fallback;
  return v.size() == 1 ? v[0] : v[size_t(c)];
}

}  // namespace

Normalization Normalization::cifar10() { return {{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}}; }
Normalization Normalization::cifar100() { return {{0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}}; }
Normalization Normalization::fashion_mnist() { return {{0.2860f}, {0.3530f}}; }

void check_normalization(const Normalization& norm, int64_t channels) {
  for (const auto* v : {&norm.mean, &norm.std})
    ENGINE_CHECK(v->size() <= 1 || int64_t(v->size()) == channels,
                 "normalisation: " << (v == &norm.mean ? "mean" : "std") << " has " << v->size()
                                   << " values for images with " << channels << " channels");
  for (float s : norm.std) ENGINE_CHECK(s > 0 && std::isfinite(s), "normalisation: std " << s << " is not positive");
  for (float m : norm.mean) ENGINE_CHECK(std::isfinite(m), "normalisation: mean " << m << " is not finite");
}

AugmentDraw draw_augment(const AugmentOptions& opt, int64_t height, int64_t width, uint64_t seed, int64_t epoch,
                         int64_t index) {
  const uint64_t key = derive_seed(seed, kAugmentTag, uint64_t(epoch));
  const uint64_t base = uint64_t(index) * kWordsPerImage;
  auto word = [&](uint64_t k) { return philox_word(key, base + k); };
  AugmentDraw d;
  if (opt.crop_padding > 0) {
    d.crop_y = below(word(0), 2 * opt.crop_padding + 1);
    d.crop_x = below(word(1), 2 * opt.crop_padding + 1);
  } else {
    d.crop_y = d.crop_x = 0;
  }
  d.flip = opt.horizontal_flip && (word(2) >> 31) != 0;
  if (opt.cutout_size > 0) {
    d.cutout_y = below(word(3), height);
    d.cutout_x = below(word(4), width);
  }
  return d;
}

void augment_image(const uint8_t* src, int64_t channels, int64_t height, int64_t width, const AugmentOptions& opt,
                   const Normalization& norm, const AugmentDraw& draw, float* dst) {
  const int64_t pad = opt.crop_padding > 0 ? opt.crop_padding : 0;
  // Source pixel for output (y, x): crop offset minus padding, mirrored when flipped.
  const int64_t oy = draw.crop_y - pad, ox = draw.crop_x - pad;
  int64_t cy0 = 0, cy1 = 0, cx0 = 0, cx1 = 0;
  if (opt.cutout_size > 0 && draw.cutout_y >= 0) {
    cy0 = std::max<int64_t>(draw.cutout_y - opt.cutout_size / 2, 0);
    cy1 = std::min<int64_t>(draw.cutout_y - opt.cutout_size / 2 + opt.cutout_size, height);
    cx0 = std::max<int64_t>(draw.cutout_x - opt.cutout_size / 2, 0);
    cx1 = std::min<int64_t>(draw.cutout_x - opt.cutout_size / 2 + opt.cutout_size, width);
  }
  for (int64_t c = 0; c < channels; ++c) {
    const float mean = channel_value(norm.mean, c, 0.0f), stdv = channel_value(norm.std, c, 1.0f);
    // A padded (black) pixel normalises to `shift`.
    const float scale = 1.0f / (255.0f * stdv), shift = -mean / stdv;
    const uint8_t* s = src + c * height * width;
    float* o = dst + c * height * width;
    for (int64_t y = 0; y < height; ++y) {
      const int64_t sy = y + oy;
      const bool row_in = sy >= 0 && sy < height;
      for (int64_t x = 0; x < width; ++x) {
        const int64_t sx = (draw.flip ? width - 1 - x : x) + ox;
        float v = shift;
        if (row_in && sx >= 0 && sx < width) v = float(s[sy * width + sx]) * scale + shift;
        if (y >= cy0 && y < cy1 && x >= cx0 && x < cx1) v = 0.0f;
        o[y * width + x] = v;
      }
    }
  }
}

Tensor make_batch_images(const Dataset& d, const std::vector<int64_t>& indices, const AugmentOptions& opt,
                         const Normalization& norm, uint64_t seed, int64_t epoch, int num_threads) {
  ENGINE_CHECK(d.images.defined() && d.images.dim() == 4 && d.images.dtype() == DType::u8,
               "make_batch_images: dataset '" << d.name << "' images must be u8 [N, C, H, W]");
  ENGINE_CHECK(opt.crop_padding >= 0 && opt.cutout_size >= 0,
               "augmentation: crop_padding and cutout_size must be >= 0, got " << opt.crop_padding << " and "
                                                                               << opt.cutout_size);
  const int64_t C = d.channels(), H = d.height(), W = d.width(), N = d.size();
  check_normalization(norm, C);
  Tensor src = d.images.is_contiguous() ? d.images : d.images.contiguous();
  const int64_t B = int64_t(indices.size());
  Tensor out = Tensor::empty({B, C, H, W}, DType::f32);
  for (int64_t idx : indices)
    ENGINE_CHECK(idx >= 0 && idx < N, "make_batch_images: index " << idx << " outside dataset '" << d.name
                                                                  << "' of " << N << " records");
  const uint8_t* s = src.data<uint8_t>();
  float* o = out.data<float>();
  const int64_t per = C * H * W;
#pragma omp parallel for num_threads(num_threads) if (num_threads > 1)
  for (int64_t i = 0; i < B; ++i) {
    const int64_t idx = indices[size_t(i)];
    AugmentDraw draw = opt.any() ? draw_augment(opt, H, W, seed, epoch, idx) : AugmentDraw{};
    augment_image(s + idx * per, C, H, W, opt, norm, draw, o + i * per);
  }
  return out;
}

}  // namespace engine::data
