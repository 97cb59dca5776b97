// The CPU caching allocator (engine/core/host_allocator.h) behind host storages: bucket
// sizes, reuse of freed blocks, its accounting and peak, the storages' own statistics
// left as the sizes asked, switching caching off, and a repeated training step that
// stops asking the C library for memory after its first steps.
#include "engine/core/generator.h"
#include "engine/core/host_allocator.h"
#include "engine/optim/optimizer.h"
#include "models/resnet.h"
#include "test_util.h"

using namespace engine;

namespace {

// Caching on for the scope (whatever ENGINE_CPU_ALLOCATOR said), with an empty cache;
// the previous mode afterwards.
struct CachingScope {
  bool was = host_allocator_stats().caching;
  explicit CachingScope(bool on) {
    set_host_allocator_caching(false);  // empties the cache
    set_host_allocator_caching(on);
  }
  ~CachingScope() { set_host_allocator_caching(was); }
};

}  // namespace

TEST_CASE("host allocator buckets: at least the request, 64-byte multiples, at most 25% slack", "[core][allocator]") {
  CHECK(host_allocation_size(0) == 64);
  CHECK(host_allocation_size(1) == 64);
  CHECK(host_allocation_size(65) == 128);
  CHECK(host_allocation_size(4096) == 4096);
  CHECK(host_allocation_size(4097) == 5120);
  CHECK(host_allocation_size(8192) == 8192);
  CHECK(host_allocation_size(8193) == 10240);
  for (size_t n = 1; n < (size_t(1) << 26); n = n * 3 / 2 + 7) {
    const size_t b = host_allocation_size(n);
    INFO("request " << n << " -> " << b);
    CHECK(b >= n);
    CHECK(b % 64 == 0);
    if (n > 4096) CHECK(double(b) <= 1.25 * double(n) + 1);
    CHECK(host_allocation_size(b) == b);  // a bucket is its own bucket
  }
}

TEST_CASE("host allocator reuses freed blocks of the same bucket and keeps its accounting", "[core][allocator]") {
  CachingScope on(true);
  const HostAllocatorStats s0 = host_allocator_stats();
  const HostMemoryStats m0 = host_memory_stats();
  void* first;
  {
    Storage a(100000, Device::cpu());
    first = a.data();
    CHECK(reinterpret_cast<uintptr_t>(first) % 64 == 0);
    const HostAllocatorStats s1 = host_allocator_stats();
    CHECK(s1.in_use == s0.in_use + host_allocation_size(100000));
    CHECK(host_memory_stats().allocated == m0.allocated + 100000);  // storages count what they asked
  }
  const HostAllocatorStats s2 = host_allocator_stats();
  CHECK(s2.in_use == s0.in_use);
  CHECK(s2.cached == s0.cached + host_allocation_size(100000));
  CHECK(host_memory_stats().allocated == m0.allocated);
  {
    Storage b(99000, Device::cpu());  // the same bucket (98304 < 99000 <= 100000 < 122880)
    CHECK(b.data() == first);
    const HostAllocatorStats s3 = host_allocator_stats();
    CHECK(s3.cache_hits == s2.cache_hits + 1);
    CHECK(s3.cached == s0.cached);
    Storage c(100000, Device::cpu());  // the cache is empty again: a new block
    CHECK(c.data() != first);
  }
  host_allocator_empty_cache();
  CHECK(host_allocator_stats().cached == 0);
}

TEST_CASE("host allocator: peaks of the storages and of the allocator stay true with a cache", "[core][allocator]") {
  CachingScope on(true);
  const size_t base = host_memory_stats().allocated;
  reset_host_peak_memory();
  host_allocator_reset_peak();
  const size_t reserved0 = host_allocator_stats().in_use + host_allocator_stats().cached;
  { Storage a(300000, Device::cpu()), b(500000, Device::cpu()); }
  CHECK(host_memory_stats().peak_allocated == base + 800000);
  const size_t both = host_allocation_size(300000) + host_allocation_size(500000);
  CHECK(host_allocator_stats().peak_reserved == reserved0 + both);
  // Served from the cache: neither peak moves, though the storages were allocated again.
  reset_host_peak_memory();
  {
    Storage a(300000, Device::cpu());
    CHECK(host_memory_stats().peak_allocated == base + 300000);
  }
  CHECK(host_memory_stats().peak_allocated == base + 300000);
  CHECK(host_allocator_stats().peak_reserved == reserved0 + both);
}

TEST_CASE("host allocator switched off returns every block at once", "[core][allocator]") {
  CachingScope off(false);
  CHECK_FALSE(host_allocator_stats().caching);
  const HostAllocatorStats s0 = host_allocator_stats();
  {
    Storage a(70000, Device::cpu());
    CHECK(host_allocator_stats().in_use == s0.in_use + host_allocation_size(70000));
  }
  const HostAllocatorStats s1 = host_allocator_stats();
  CHECK(s1.cached == 0);
  CHECK(s1.in_use == s0.in_use);
  CHECK(s1.cache_hits == s0.cache_hits);
  // A block allocated while caching was on is freed correctly after it was turned off.
  set_host_allocator_caching(true);
  auto* st = new Storage(5000, Device::cpu());
  set_host_allocator_caching(false);
  delete st;
  CHECK(host_allocator_stats().cached == 0);
  CHECK(host_allocator_stats().in_use == s0.in_use);
}

TEST_CASE("host allocator: repeated training steps reach a steady state without system allocations",
          "[core][allocator]") {
  CachingScope on(true);
  manual_seed(5);
  models::ResNetConfig rc;
  rc.width_mult = 0.125;
  rc.num_classes = 10;
  models::ResNet model(rc);
  optim::SgdOptions so;
  so.lr = 0.01;
  optim::SGD opt(optim::make_param_entries(model.named_parameters(), 0.0, false), so);
  Tensor x = testing::randn64({4, 3, 16, 16}, 9).to(DType::f32);
  Tensor y = Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {4}, DType::i64);
  auto step = [&] {
    opt.zero_grad();
    Variable loss = ag::cross_entropy(model(Variable(x)), y);
    loss.backward();
    opt.step();
    return loss.item();
  };
  for (int i = 0; i < 2; ++i) step();
  const HostAllocatorStats s0 = host_allocator_stats();
  const size_t storages0 = host_memory_stats().allocated;
  for (int i = 0; i < 3; ++i) step();
  const HostAllocatorStats s1 = host_allocator_stats();
  const uint64_t requests = s1.allocs - s0.allocs, misses = requests - (s1.cache_hits - s0.cache_hits);
  INFO(requests << " requests, " << misses << " from the system");
  CHECK(requests > 100);  // the steps do allocate (through the cache)
  CHECK(misses == 0);
  CHECK(s1.in_use + s1.cached == s0.in_use + s0.cached);  // no growth
  CHECK(host_memory_stats().allocated == storages0);
}
