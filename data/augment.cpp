#include "data/augment.h"

#include <algorithm>
#include <cmath>

#include "base/rng.h"

namespace engine::data {
namespace {

constexpr uint64_t kAugmentTag = 0x6175676d656e74ull;  // "augment"

float channel_value(const std::vector<float>& v, int64_t c, float fallback) {
  if (v.empty()) return fallback;
  return v.size() == 1 ? v[0] : v[size_t(c)];
}

}  // namespace

void check_normalization(const Normalization& norm, int64_t channels) {
  for (const auto* v : {&norm.mean, &norm.std})
    ENGINE_CHECK(v->size() <= 1 || int64_t(v->size()) == channels,
                 "normalisation: " << (v == &norm.mean ? "mean" : "std") << " has " << v->size()
                                   << " values for images with " << channels << " channels");
  for (float s : norm.std) ENGINE_CHECK(s > 0 && std::isfinite(s), "normalisation: std " << s << " is not positive");
  for (float m : norm.mean) ENGINE_CHECK(std::isfinite(m), "normalisation: mean " << m << " is not finite");
}

uint64_t augment_key(uint64_t seed, int64_t epoch) { return derive_seed(seed, kAugmentTag, uint64_t(epoch)); }

kernels::AugmentParams augment_params(const AugmentOptions& opt, const Normalization& norm, int64_t channels,
                                      int64_t height, int64_t width, uint64_t seed, int64_t epoch) {
  ENGINE_CHECK(channels >= 1 && channels <= kernels::kAugmentMaxChannels,
               "augmentation: images with " << channels << " channels (at most " << kernels::kAugmentMaxChannels
                                            << " supported)");
  kernels::AugmentParams p;
  p.C = channels;
  p.H = height;
  p.W = width;
  p.crop_padding = opt.crop_padding;
  p.cutout_size = opt.cutout_size;
  p.hflip = opt.horizontal_flip;
  p.key = augment_key(seed, epoch);
  for (int64_t c = 0; c < channels; ++c) {
    const float mean = channel_value(norm.mean, c, 0.0f), stdv = channel_value(norm.std, c, 1.0f);
    p.scale[c] = 1.0f / (255.0f * stdv);
    p.shift[c] = -mean / stdv;
  }
  return p;
}

AugmentDraw draw_augment(const AugmentOptions& opt, int64_t height, int64_t width, uint64_t seed, int64_t epoch,
                         int64_t index) {
  kernels::AugmentChoice c = kernels::augment_choice(augment_key(seed, epoch), index, opt.crop_padding,
                                                     opt.horizontal_flip, opt.cutout_size, height, width);
  return AugmentDraw{c.crop_y, c.crop_x, c.flip, c.cutout_y, c.cutout_x};
}

void augment_image(const uint8_t* src, int64_t channels, int64_t height, int64_t width, const AugmentOptions& opt,
                   const Normalization& norm, const AugmentDraw& draw, float* dst) {
  const kernels::AugmentParams p = augment_params(opt, norm, channels, height, width, 0, 0);
  const kernels::AugmentChoice d{draw.crop_y, draw.crop_x, draw.flip, draw.cutout_y, draw.cutout_x};
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < width; ++x)
        dst[(c * height + y) * width + x] = kernels::augment_pixel(src, p, d, c, y, x);
}

Tensor make_batch_images(const Dataset& d, const std::vector<int64_t>& indices, const AugmentOptions& opt,
                         const Normalization& norm, uint64_t seed, int64_t epoch, int num_threads) {
  Tensor out = Tensor::empty({int64_t(indices.size()), d.channels(), d.height(), d.width()}, DType::f32);
  make_batch_images_into(out, d, indices, opt, norm, seed, epoch, num_threads);
  return out;
}

void make_batch_images_into(const Tensor& out, const Dataset& d, const std::vector<int64_t>& indices,
                            const AugmentOptions& opt, const Normalization& norm, uint64_t seed, int64_t epoch,
                            int num_threads) {
  ENGINE_CHECK(d.images.defined() && d.images.dim() == 4 && d.images.dtype() == DType::u8,
               "make_batch_images: dataset '" << d.name << "' images must be u8 [N, C, H, W]");
  ENGINE_CHECK(opt.crop_padding >= 0 && opt.cutout_size >= 0,
               "augmentation: crop_padding and cutout_size must be >= 0, got " << opt.crop_padding << " and "
                                                                               << opt.cutout_size);
  const int64_t C = d.channels(), H = d.height(), W = d.width(), N = d.size();
  check_normalization(norm, C);
  const int64_t B = int64_t(indices.size());
  ENGINE_CHECK(
      out.dtype() == DType::f32 && out.device().is_cpu() && out.is_contiguous() && out.shape() == Shape({B, C, H, W}),
      "make_batch_images: output must be a contiguous f32 CPU tensor " << shape_str({B, C, H, W}) << ", got "
                                                                       << out.header());
  Tensor src = d.images.is_contiguous() ? d.images : d.images.contiguous();
  for (int64_t idx : indices)
    ENGINE_CHECK(idx >= 0 && idx < N,
                 "make_batch_images: index " << idx << " outside dataset '" << d.name << "' of " << N << " records");
  const kernels::AugmentParams p = augment_params(opt, norm, C, H, W, seed, epoch);
  const uint8_t* s = src.data<uint8_t>();
  float* o = out.data<float>();
  const int64_t per = C * H * W;
#pragma omp parallel for num_threads(num_threads) if (num_threads > 1)
  for (int64_t i = 0; i < B; ++i) {
    const int64_t idx = indices[size_t(i)];
    const kernels::AugmentChoice c =
        opt.any() ? kernels::augment_choice(p.key, idx, p.crop_padding, p.hflip, p.cutout_size, H, W)
                  : kernels::AugmentChoice{};
    const uint8_t* img = s + idx * per;
    float* dst = o + i * per;
    for (int64_t ch = 0; ch < C; ++ch)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) dst[(ch * H + y) * W + x] = kernels::augment_pixel(img, p, c, ch, y, x);
  }
}

}  // namespace engine::data
