#pragma once
// The CPU's caching allocator, behind the CPU memory hooks (storage.h): freed blocks go
// to size-bucketed free lists and are handed out again to requests of the same bucket,
// so a training step that repeats its allocations costs no malloc, no page faults and no
// zeroing by the kernel in the steady state. Sizes are rounded up to 64 bytes below
// 4 KiB and to a quarter power of two above (at most 25% slack). Blocks are 64-byte
// aligned; a header in front of each records its bucket, so that a block allocated
// while caching was on is freed correctly after it was switched off and back.
//
// ENGINE_CPU_ALLOCATOR=system (read once, on the first allocation) turns caching off:
// every free goes back to the C library at once. The cache keeps what the process has
// freed; empty_cache() returns it. Storage statistics (host_memory_stats) count the
// bytes tensors asked for; the allocator's own figures below count what it holds.
#include <cstddef>
#include <cstdint>

namespace engine {

struct HostAllocatorStats {
  bool caching = true;
  size_t in_use = 0;                    // bytes of the blocks handed out (rounded sizes)
  size_t cached = 0;                    // bytes of free blocks kept for reuse
  size_t peak_reserved = 0;             // most of in_use + cached at once, since the start or the last reset
  uint64_t allocs = 0, cache_hits = 0;  // requests, and those served from the cache
};

void* host_allocate(size_t nbytes);
void host_free(void* ptr);
HostAllocatorStats host_allocator_stats();
void host_allocator_reset_peak();            // peak_reserved := what is held now
void host_allocator_empty_cache();           // frees every cached block
void set_host_allocator_caching(bool on);    // off also empties the cache
size_t host_allocation_size(size_t nbytes);  // the bucket a request is rounded to

}  // namespace engine
