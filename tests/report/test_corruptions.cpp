// CIFAR-C style corruptions: shape, dtype and range kept, distance from the clean
// image growing with severity, determinism by seed, slices equal to the whole, and
// hand-checkable cases (brightness, contrast, blur of a flat image, JPEG of a flat block).
#include <cmath>

#include "base/rng.h"
#include "data/corruptions.h"
#include "test_util.h"

using namespace engine;
using data::Corruption;

namespace {

// Natural-looking test images: smooth gradients, a bright square and mild texture,
// values spread over most of [0, 255].
Tensor test_images(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  Tensor t = Tensor::empty({n, c, h, w}, DType::u8);
  uint8_t* p = t.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          double v = 40 + 120.0 * (x + y) / double(w + h) + 30 * std::sin(0.7 * x + ch + i);
          if (x > w / 4 && x < w / 2 && y > h / 3 && y < 2 * h / 3) v += 70;
          v += 12 * philox_uniform(seed, uint64_t(((i * c + ch) * h + y) * w + x));
          p[((i * c + ch) * h + y) * w + x] = uint8_t(std::clamp(v, 0.0, 255.0));
        }
  return t;
}

double mean_abs_diff(const Tensor& a, const Tensor& b) {
  const uint8_t* p = a.data<uint8_t>();
  const uint8_t* q = b.data<uint8_t>();
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += std::abs(int(p[i]) - int(q[i]));
  return s / double(a.numel());
}

}  // namespace

TEST_CASE("every corruption keeps shape and dtype and moves further from the clean image with severity", "[report]") {
  for (int64_t channels : {int64_t(1), int64_t(3)}) {
    int64_t side = channels == 1 ? 28 : 32;
    Tensor clean = test_images(6, channels, side, side, 3);
    for (Corruption c : data::all_corruptions()) {
      double prev = 0;
      for (int s = 1; s <= data::kNumSeverities; ++s) {
        Tensor out = data::corrupt_images(clean, c, s, 11);
        INFO(data::corruption_name(c) << " channels " << channels << " severity " << s);
        REQUIRE(out.shape() == clean.shape());
        REQUIRE(out.dtype() == DType::u8);
        CHECK_FALSE(out.shares_storage(clean));
        double d = mean_abs_diff(out, clean);
        INFO("distance " << d << ", previous severity " << prev);
        CHECK(d > prev);
        CHECK(d < 128);  // still an image of the same scene, not noise
        prev = d;
      }
    }
  }
}

TEST_CASE("corruptions are deterministic by seed and independent of batching", "[report]") {
  Tensor clean = test_images(5, 3, 32, 32, 9);
  for (Corruption c : data::all_corruptions()) {
    INFO(data::corruption_name(c));
    Tensor a = data::corrupt_images(clean, c, 3, 5), b = data::corrupt_images(clean, c, 3, 5);
    CHECK(a.to_vector() == b.to_vector());
    // Images 2..4 corrupted alone equal the same images corrupted in the whole batch.
    Tensor part = data::corrupt_images(clean.slice(0, 2, 5), c, 3, 5, 2);
    CHECK(part.to_vector() == a.slice(0, 2, 5).contiguous().to_vector());
  }
  for (Corruption c : {Corruption::gaussian_noise, Corruption::shot_noise, Corruption::impulse_noise}) {
    INFO(data::corruption_name(c));
    Tensor a = data::corrupt_images(clean, c, 3, 5), b = data::corrupt_images(clean, c, 3, 6);
    CHECK(a.to_vector() != b.to_vector());
    // Two images of the batch do not share one noise pattern.
    Tensor twins = Tensor::empty({2, 3, 32, 32}, DType::u8);
    twins.slice(0, 0, 1).copy_from(clean.slice(0, 0, 1));
    twins.slice(0, 1, 2).copy_from(clean.slice(0, 0, 1));
    Tensor n = data::corrupt_images(twins, c, 3, 5);
    CHECK(n.slice(0, 0, 1).contiguous().to_vector() != n.slice(0, 1, 2).contiguous().to_vector());
  }
}

TEST_CASE("hand-checkable corruptions: brightness and contrast values and flat images kept flat", "[report]") {
  Tensor grey = Tensor::full({1, 1, 16, 16}, 100.0, DType::u8);
  // Brightness on grey: value + 0.05 * 255 at severity 1, + 0.3 * 255 at severity 5.
  CHECK(data::corrupt_images(grey, Corruption::brightness, 1, 0).to_vector()[0] == std::lround(100 + 0.05 * 255));
  CHECK(std::abs(data::corrupt_images(grey, Corruption::brightness, 5, 0).to_vector()[0] - (100 + 0.3 * 255)) <= 0.5);
  // Brightness on colour keeps the hue: channel ratios stay (up to rounding).
  Tensor rgb = Tensor::empty({1, 3, 1, 1}, DType::u8);
  rgb.data<uint8_t>()[0] = 200, rgb.data<uint8_t>()[1] = 100, rgb.data<uint8_t>()[2] = 50;
  std::vector<double> b = data::corrupt_images(rgb, Corruption::brightness, 2, 0).to_vector();
  CHECK(b[0] == std::lround(std::min(255.0, 200 + 25.5)));
  CHECK(b[1] / b[0] == Approx(0.5).margin(0.01));
  CHECK(b[2] / b[0] == Approx(0.25).margin(0.01));
  // A flat image is left flat by contrast, blur, pixelation and JPEG quantisation.
  for (Corruption c : {Corruption::contrast, Corruption::defocus_blur, Corruption::pixelate, Corruption::jpeg})
    for (int s = 1; s <= 5; ++s) {
      INFO(data::corruption_name(c) << " severity " << s);
      for (double v : data::corrupt_images(grey, c, s, 0).to_vector()) CHECK(std::abs(v - 100) <= 1);
    }
  // Contrast pulls each pixel toward the channel mean by the severity's factor (0.15 at 5).
  Tensor two = Tensor::empty({1, 1, 1, 2}, DType::u8);
  two.data<uint8_t>()[0] = 50, two.data<uint8_t>()[1] = 150;
  std::vector<double> c5 = data::corrupt_images(two, Corruption::contrast, 5, 0).to_vector();
  CHECK(c5[0] == std::lround(100 - 50 * 0.15));
  CHECK(c5[1] == std::lround(100 + 50 * 0.15));
}

TEST_CASE("corruption names and bad arguments", "[report]") {
  CHECK(data::all_corruptions().size() == 8);
  for (Corruption c : data::all_corruptions()) CHECK(data::corruption_from_name(data::corruption_name(c)) == c);
  CHECK_THROWS_WITH(data::corruption_from_name("fog"), Catch::Contains("unknown corruption 'fog'"));
  Tensor img = Tensor::zeros({1, 3, 8, 8}, DType::u8);
  CHECK_THROWS_WITH(data::corrupt_images(img, Corruption::jpeg, 0, 0), Catch::Contains("severity 0"));
  CHECK_THROWS_WITH(data::corrupt_images(img, Corruption::jpeg, 6, 0), Catch::Contains("severity 6"));
  CHECK_THROWS_WITH(data::corrupt_images(Tensor::zeros({1, 3, 8, 8}), Corruption::jpeg, 1, 0), Catch::Contains("u8"));
  CHECK_THROWS_WITH(data::corrupt_images(Tensor::zeros({1, 2, 8, 8}, DType::u8), Corruption::jpeg, 1, 0),
                    Catch::Contains("1 or 3 channels"));
}
