// CUDA parity of the AUGMENT_IMAGES op (GPU-resident data path): the kernel must give
// the CPU kernel's floats exactly (both round the multiply, then the add), on odd image
// sizes, both stored layouts, several seeds and epochs, and repeated indices; and it
// must report an index outside the dataset. Also pinned host memory and the
// asynchronous host-to-device copy from it.
#include <cstring>

#include "cuda_parity.h"
#include "data/augment.h"
#include "data/registry.h"

using namespace engine;
using namespace engine::testing;

namespace {

Tensor random_u8(const Shape& s, uint64_t seed) {
  Tensor t = Tensor::empty(s, DType::u8);
  uint8_t* p = t.data<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = uint8_t(philox_word(seed, uint64_t(i)) >> 24);
  return t;
}

Tensor random_indices(int64_t b, int64_t n, uint64_t seed) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < b; ++i) v.push_back(int64_t(philox_word(seed, uint64_t(i)) % uint64_t(n)));
  return Tensor::from_data(v.data(), {b});
}

}  // namespace

TEST_CASE("cuda augment_images equals the CPU kernel bit for bit", "[cuda]") {
  begin_cuda_test();
  struct Case {
    int64_t n, c, h, w, b, pad, cutout;
    bool flip, nhwc;
  };
  for (Case k : {Case{50, 3, 32, 32, 37, 4, 8, true, false}, Case{9, 3, 7, 13, 20, 3, 5, true, true},
                 Case{11, 1, 28, 28, 5, 0, 0, false, false}, Case{3, 4, 5, 3, 1, 6, 2, true, false},
                 Case{300, 3, 33, 31, 257, 2, 0, true, true}})
    for (uint64_t seed : {1u, 77u})
      for (int64_t epoch : {0, 5}) {
        Tensor images = random_u8({k.n, k.c, k.h, k.w}, seed + 3);
        data::AugmentOptions o;
        o.crop_padding = k.pad;
        o.cutout_size = k.cutout;
        o.horizontal_flip = k.flip;
        data::Normalization norm =
            k.c == 3 ? data::dataset_normalization("cifar10") : data::Normalization{{0.3f}, {0.6f}};
        kernels::AugmentParams p = data::augment_params(o, norm, k.c, k.h, k.w, seed, epoch);
        p.nhwc = k.nhwc;
        Tensor stored = k.nhwc ? images.permute({0, 2, 3, 1}).contiguous() : images;
        Tensor idx = random_indices(k.b, k.n, seed + 11);
        Tensor want = ops::augment_images(stored, idx, p);
        Tensor got = ops::augment_images(on_gpu(stored), on_gpu(idx), p).to(Device::cpu());
        INFO("N " << k.n << " C " << k.c << " H " << k.h << " W " << k.w << " B " << k.b << " seed " << seed
                  << " epoch " << epoch << (k.nhwc ? " nhwc" : " nchw"));
        REQUIRE(got.shape() == want.shape());
        CHECK(std::memcmp(got.data_ptr(), want.data_ptr(), want.nbytes()) == 0);
        CHECK(normalized_error(got, want) == 0.0);
      }
}

TEST_CASE("cuda augment_images reports an index outside the dataset", "[cuda]") {
  begin_cuda_test();
  Tensor images = on_gpu(random_u8({4, 3, 6, 6}, 2));
  std::vector<int64_t> v = {1, 9};
  Tensor idx = on_gpu(Tensor::from_data(v.data(), {2}));
  kernels::AugmentParams p = data::augment_params({}, data::dataset_normalization("cifar10"), 3, 6, 6, 0, 0);
  Tensor y = ops::augment_images(images, idx, p);
  CHECK_THROWS_WITH(runtime::cuda_synchronize(0), Catch::Contains("index 9"));
}

TEST_CASE("cuda pinned tensors: page-locked, asynchronous copy to the device, buffers reused", "[cuda]") {
  begin_cuda_test();
  REQUIRE(pinned_memory_available());
  for (int round = 0; round < 3; ++round) {
    Tensor h = Tensor::empty_pinned({257, 3}, DType::f32);
    CHECK(h.is_pinned());
    float* p = h.data<float>();
    for (int64_t i = 0; i < h.numel(); ++i) p[i] = float(i * (round + 1)) * 0.5f;
    Tensor d = h.to(gpu());
    // The compute stream waits for the copy: an op on it sees the data.
    Tensor back = ops::add(d, d).to(Device::cpu());
    const float* b = back.data<float>();
    bool ok = true;
    for (int64_t i = 0; i < h.numel(); ++i) ok = ok && b[i] == 2.0f * float(i * (round + 1)) * 0.5f;
    CHECK(ok);
  }
  CHECK(host_memory_stats().pinned == 0);
}
