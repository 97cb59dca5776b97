#include "engine/core/host_allocator.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/check.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
// A cached block is poisoned until it is handed out again, so that AddressSanitizer
// still reports a use after free.
#define HOST_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define HOST_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define HOST_POISON(p, n) ((void)(p), (void)(n))
#define HOST_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace engine {
namespace {

constexpr size_t kAlign = 64;    // block alignment, and the header's size
constexpr size_t kSmall = 4096;  // below: multiples of 64 bytes

struct Header {
  size_t bucket;  // the rounded size of the block after the header
};
static_assert(sizeof(Header) <= kAlign, "the header fits in front of an aligned block");

struct State {
  std::mutex mu;
  bool caching = true;
  bool configured = false;
  std::unordered_map<size_t, std::vector<void*>> free_lists;  // bucket -> blocks (base pointers)
  size_t in_use = 0, cached = 0, peak = 0;
  uint64_t allocs = 0, hits = 0;
};

State& state() {
  static State* s = new State;  // never destroyed: storages may be freed during exit
  return *s;
}

// Reads ENGINE_CPU_ALLOCATOR once (under the lock).
void configure(State& s) {
  if (s.configured) return;
  s.configured = true;
  const char* v = std::getenv("ENGINE_CPU_ALLOCATOR");
  const std::string choice = v ? v : "";
  ENGINE_CHECK(choice.empty() || choice == "caching" || choice == "system",
               "ENGINE_CPU_ALLOCATOR must be caching or system, got '" << choice << "'");
  s.caching = choice != "system";
}

void note_peak(State& s) {
  if (s.in_use + s.cached > s.peak) s.peak = s.in_use + s.cached;
}

void release_cached(State& s) {
  for (auto& [bucket, blocks] : s.free_lists)
    for (void* base : blocks) {
      HOST_UNPOISON(base, bucket + kAlign);
      std::free(base);
    }
  s.free_lists.clear();
  s.cached = 0;
}

}  // namespace

size_t host_allocation_size(size_t nbytes) {
  if (nbytes <= kSmall) return nbytes == 0 ? kAlign : (nbytes + kAlign - 1) / kAlign * kAlign;
  // The quarter power of two at or above nbytes: 2^k * {1, 1.25, 1.5, 1.75}.
  size_t p = kSmall;
  while (p * 2 < nbytes) p *= 2;  // p < nbytes <= 2p
  const size_t step = p / 4;
  return (nbytes + step - 1) / step * step;
}

void* host_allocate(size_t nbytes) {
  const size_t bucket = host_allocation_size(nbytes);
  State& s = state();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    configure(s);
    ++s.allocs;
    auto it = s.free_lists.find(bucket);
    if (it != s.free_lists.end() && !it->second.empty()) {
      void* base = it->second.back();
      it->second.pop_back();
      s.cached -= bucket;
      s.in_use += bucket;
      ++s.hits;
      HOST_UNPOISON(base, bucket + kAlign);
      return static_cast<char*>(base) + kAlign;
    }
    s.in_use += bucket;
    note_peak(s);
  }
  void* base = std::aligned_alloc(kAlign, bucket + kAlign);
  if (!base) {
    std::lock_guard<std::mutex> lock(s.mu);
    s.in_use -= bucket;
    release_cached(s);  // give the cache back and try once more
  }
  if (!base) {
    base = std::aligned_alloc(kAlign, bucket + kAlign);
    ENGINE_CHECK(base != nullptr, "out of host memory: could not allocate " << nbytes << " bytes");
    std::lock_guard<std::mutex> lock(s.mu);
    s.in_use += bucket;
    note_peak(s);
  }
  static_cast<Header*>(base)->bucket = bucket;
  return static_cast<char*>(base) + kAlign;
}

void host_free(void* ptr) {
  if (!ptr) return;
  void* base = static_cast<char*>(ptr) - kAlign;
  const size_t bucket = static_cast<Header*>(base)->bucket;
  State& s = state();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.in_use -= bucket;
    if (s.caching) {
      HOST_POISON(base, bucket + kAlign);
      s.free_lists[bucket].push_back(base);
      s.cached += bucket;
      return;
    }
  }
  std::free(base);
}

HostAllocatorStats host_allocator_stats() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  configure(s);
  HostAllocatorStats r;
  r.caching = s.caching;
  r.in_use = s.in_use;
  r.cached = s.cached;
  r.peak_reserved = s.peak;
  r.allocs = s.allocs;
  r.cache_hits = s.hits;
  return r;
}

void host_allocator_reset_peak() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.peak = s.in_use + s.cached;
}

void host_allocator_empty_cache() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  release_cached(s);
}

void set_host_allocator_caching(bool on) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.configured = true;
  s.caching = on;
  if (!on) release_cached(s);
}

}  // namespace engine
