// The AUGMENT_IMAGES op on the CPU: against data/augment.cpp's batches (the loader's
// path) bit for bit, against a naive loop written here from the definition, and its
// checks. The CUDA kernel is compared with this one in tests/cuda/test_cuda_augment.cpp.
#include <cmath>
#include <cstring>

#include "data/augment.h"
#include "data/registry.h"
#include "test_util.h"

using namespace engine;
using namespace engine::data;

namespace {

Dataset random_images(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  Dataset d;
  d.name = "random";
  d.images = Tensor::empty({n, c, h, w}, DType::u8);
  d.labels = Tensor::zeros({n}, DType::i64);
  d.num_classes = 2;
  uint8_t* p = d.images.data<uint8_t>();
  for (int64_t i = 0; i < n * c * h * w; ++i) p[i] = uint8_t(philox_word(seed, uint64_t(i)) >> 24);
  return d;
}

Tensor index_tensor(const std::vector<int64_t>& v) { return Tensor::from_data(v.data(), {int64_t(v.size())}); }

kernels::AugmentParams params_for(const AugmentOptions& o, const Normalization& n, const Dataset& d, uint64_t seed,
                                  int64_t epoch) {
  return augment_params(o, n, d.channels(), d.height(), d.width(), seed, epoch);
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0;
}

}  // namespace

TEST_CASE("augment_images op equals the loader's batches bit for bit", "[data][augment_op]") {
  const Normalization norm = dataset_normalization("cifar10");
  struct Case {
    int64_t c, h, w, pad, cutout;
    bool flip;
  };
  for (Case k : {Case{3, 32, 32, 4, 8, true}, Case{3, 7, 9, 2, 3, true}, Case{1, 28, 28, 0, 0, false},
                 Case{3, 5, 5, 6, 0, true}, Case{1, 6, 5, 0, 7, false}}) {
    Dataset d = random_images(13, k.c, k.h, k.w, 5);
    Normalization nm = k.c == 3 ? norm : dataset_normalization("fashion_mnist");
    AugmentOptions o;
    o.crop_padding = k.pad;
    o.cutout_size = k.cutout;
    o.horizontal_flip = k.flip;
    for (int64_t epoch : {0, 3}) {
      std::vector<int64_t> idx = {12, 0, 5, 5, 7};
      Tensor want = make_batch_images(d, idx, o, nm, 99, epoch);
      Tensor got = ops::augment_images(d.images, index_tensor(idx), params_for(o, nm, d, 99, epoch));
      INFO("C " << k.c << " H " << k.h << " W " << k.w << " pad " << k.pad << " cutout " << k.cutout << " epoch "
                << epoch);
      CHECK(bit_equal(got, want));
    }
  }
}

TEST_CASE("augment_images op against a naive loop from the definition", "[data][augment_op]") {
  Dataset d = random_images(6, 3, 8, 10, 17);
  Normalization nm{{0.5f, 0.4f, 0.3f}, {0.2f, 0.25f, 0.3f}};
  AugmentOptions o;
  o.crop_padding = 3;
  o.cutout_size = 4;
  o.horizontal_flip = true;
  std::vector<int64_t> idx = {5, 1, 3, 0, 2, 4, 1};
  const uint64_t seed = 8;
  const int64_t epoch = 2;
  Tensor got = ops::augment_images(d.images, index_tensor(idx), params_for(o, nm, d, seed, epoch));
  const int64_t C = 3, H = 8, W = 10;
  const uint8_t* src = d.images.data<uint8_t>();
  const float* g = got.data<float>();
  int flipped = 0, shifted = 0, cut = 0;
  double max_err = 0;
  for (size_t b = 0; b < idx.size(); ++b) {
    AugmentDraw dr = draw_augment(o, H, W, seed, epoch, idx[b]);
    flipped += dr.flip;
    shifted += dr.crop_y != 3 || dr.crop_x != 3;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          // Pad, crop, flip the crop, normalise, cut out.
          int64_t py = y + dr.crop_y, px = (dr.flip ? W - 1 - x : x) + dr.crop_x;
          int64_t sy = py - 3, sx = px - 3;
          double v = 0.0;
          if (sy >= 0 && sy < H && sx >= 0 && sx < W) v = src[((idx[b] * C + c) * H + sy) * W + sx] / 255.0;
          v = (v - nm.mean[size_t(c)]) / nm.std[size_t(c)];
          bool in_cut = std::abs(double(y) - double(dr.cutout_y) + 0.5) <= 2.0 &&
                        std::abs(double(x) - double(dr.cutout_x) + 0.5) <= 2.0;
          if (in_cut) {
            v = 0.0;
            ++cut;
          }
          double e = std::abs(v - double(g[((int64_t(b) * C + c) * H + y) * W + x]));
          max_err = std::max(max_err, e);
        }
  }
  CHECK(max_err < 1e-5);
  // The draws exercised every branch.
  CHECK(flipped > 0);
  CHECK(flipped < int(idx.size()));
  CHECK(shifted > 0);
  CHECK(cut > 0);
}

TEST_CASE("augment_images op reads channels-last (NHWC) images as stored", "[data][augment_op]") {
  Dataset d = random_images(4, 3, 6, 7, 23);
  Tensor nhwc = d.images.permute({0, 2, 3, 1}).contiguous();
  AugmentOptions o;
  o.crop_padding = 2;
  o.cutout_size = 3;
  o.horizontal_flip = true;
  kernels::AugmentParams p = params_for(o, dataset_normalization("cifar10"), d, 4, 1);
  Tensor idx = index_tensor({3, 1, 2});
  Tensor want = ops::augment_images(d.images, idx, p);
  p.nhwc = true;
  Tensor got = ops::augment_images(nhwc, idx, p);
  CHECK(bit_equal(got, want));
}

TEST_CASE("augment_images op checks its inputs", "[data][augment_op]") {
  Dataset d = random_images(4, 3, 6, 6, 1);
  kernels::AugmentParams p = params_for(AugmentOptions{}, dataset_normalization("cifar10"), d, 0, 0);
  CHECK_THROWS_WITH(ops::augment_images(d.images, index_tensor({0, 4}), p),
                    Catch::Contains("index 4 at position 1 is out of range [0, 4)"));
  CHECK_THROWS_WITH(ops::augment_images(d.images.to(DType::f32), index_tensor({0}), p),
                    Catch::Contains("images must be u8"));
  CHECK_THROWS_WITH(ops::augment_images(d.images, Tensor::zeros({2}, DType::f32), p),
                    Catch::Contains("indices must be i64"));
  Tensor many = Tensor::zeros({2, 5, 4, 4}, DType::u8);
  CHECK_THROWS_WITH(ops::augment_images(many, index_tensor({0}), p), Catch::Contains("5 channels"));
  Tensor empty = ops::augment_images(d.images, Tensor::empty({0}, DType::i64), p);
  CHECK(empty.shape() == Shape{0, 3, 6, 6});
}
