// The GPU-resident data path: AUGMENT_IMAGES reports an index outside the dataset
// (its parity with the CPU is the op-case table's, run by tests/ops); pinned host memory
// and the asynchronous host-to-device copy from it.
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

}  // namespace

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
