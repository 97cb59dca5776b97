// The device-resident loader (checked here on the CPU, where it must equal the host
// Loader bit for bit) and pinned host memory's fallback without a usable GPU.
#include <cstring>

#include "data/loader.h"
#include "data/registry.h"
#include "engine/core/backend.h"
#include "test_util.h"

using namespace engine;
using namespace engine::data;

namespace {

Dataset synthetic(int64_t n, int64_t c, int64_t h, int64_t w) {
  Dataset d;
  d.name = "synthetic";
  d.images = Tensor::empty({n, c, h, w}, DType::u8);
  d.labels = Tensor::empty({n}, DType::i64);
  uint8_t* p = d.images.data<uint8_t>();
  for (int64_t i = 0; i < n * c * h * w; ++i) p[i] = uint8_t(philox_word(3, uint64_t(i)) >> 24);
  for (int64_t i = 0; i < n; ++i) d.labels.data<int64_t>()[i] = (i * 7) % 10;
  d.num_classes = 10;
  return d;
}

bool same(const Tensor& a, const Tensor& b) {
  Tensor x = a.contiguous(), y = b.contiguous();
  return x.shape() == y.shape() && x.dtype() == y.dtype() && std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
}

}  // namespace

TEST_CASE("device-resident loader equals the host loader batch for batch", "[data][device_loader]") {
  Dataset d = synthetic(45, 3, 9, 11);
  for (bool drop_last : {false, true}) {
    LoaderOptions o;
    o.batch_size = 8;
    o.seed = 42;
    o.drop_last = drop_last;
    o.augment.crop_padding = 3;
    o.augment.horizontal_flip = true;
    o.augment.cutout_size = 4;
    o.normalization = dataset_normalization("cifar10");
    o.prefetch = false;
    Loader host(d, o);
    DeviceResidentLoader dev(d, o);
    REQUIRE(host.size() == dev.size());
    CHECK(dev.size() == (drop_last ? 5 : 6));
    for (int64_t epoch : {0, 1, 4}) {
      host.set_epoch(epoch);
      dev.set_epoch(epoch);
      Batch a, b;
      int64_t n = 0;
      while (host.next(a)) {
        REQUIRE(dev.next(b));
        INFO("epoch " << epoch << " batch " << n);
        CHECK(b.epoch == epoch);
        CHECK(b.index == n);
        CHECK(same(a.images, b.images));
        CHECK(same(a.labels, b.labels));
        CHECK(same(a.indices, b.indices));
        ++n;
      }
      CHECK_FALSE(dev.next(b));
      CHECK(n == host.size());
    }
    // Resuming mid-epoch gives the same batch as reaching it.
    host.set_epoch(2, 3);
    dev.set_epoch(2, 3);
    Batch a, b;
    REQUIRE(host.next(a));
    REQUIRE(dev.next(b));
    CHECK(b.index == 3);
    CHECK(same(a.images, b.images));
  }
}

TEST_CASE("device-resident loader without shuffling or augmentation", "[data][device_loader]") {
  Dataset d = synthetic(10, 1, 8, 8);
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = false;
  o.normalization = dataset_normalization("fashion_mnist");
  DeviceResidentLoader dev(d, o);
  Batch b;
  REQUIRE(dev.next(b));
  CHECK(b.indices.to_vector() == std::vector<double>{0, 1, 2, 3});
  CHECK(same(b.images, make_batch_images(d, {0, 1, 2, 3}, AugmentOptions{}, o.normalization, 0, 0)));
  o.batch_size = 0;
  CHECK_THROWS_WITH(DeviceResidentLoader(d, o), Catch::Contains("batch_size must be >= 1"));
}

TEST_CASE("pinned host memory falls back to ordinary memory without a usable GPU", "[data][pinned]") {
  if (runtime::cuda_available()) return;  // the [cuda] tests cover the pinned path
  CHECK_FALSE(pinned_memory_available());
  const HostMemoryStats before = host_memory_stats();
  {
    Tensor t = Tensor::empty_pinned({3, 5}, DType::f32);
    CHECK_FALSE(t.is_pinned());
    CHECK(t.device().is_cpu());
    t.fill_(2.5);
    CHECK(t.to_vector() == std::vector<double>(15, 2.5));
    CHECK(host_memory_stats().allocated >= before.allocated + 60);
    CHECK(host_memory_stats().pinned == 0);
  }
  CHECK(host_memory_stats().allocated == before.allocated);
  // A loader for the CPU never stages in pinned memory.
  Dataset d = synthetic(6, 1, 8, 8);
  LoaderOptions o;
  o.batch_size = 3;
  Loader l(d, o);
  CHECK_FALSE(l.pinned_staging());
  Batch b;
  REQUIRE(l.next(b));
  CHECK_FALSE(b.images.is_pinned());
}

TEST_CASE("host memory counters follow storages and keep a resettable peak", "[data][pinned]") {
  const size_t base = host_memory_stats().allocated;
  reset_host_peak_memory();
  CHECK(host_memory_stats().peak_allocated == base);
  {
    Tensor a = Tensor::empty({1000}, DType::f64);
    Tensor b = Tensor::empty({500}, DType::f32);
    CHECK(host_memory_stats().allocated == base + 8000 + 2000);
  }
  CHECK(host_memory_stats().allocated == base);
  CHECK(host_memory_stats().peak_allocated == base + 10000);
  reset_host_peak_memory();
  CHECK(host_memory_stats().peak_allocated == base);
}
