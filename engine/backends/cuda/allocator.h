#pragma once
// The caching device allocator, one per device. Memory comes from cudaMalloc in
// segments and is handed out in blocks; a freed block goes back to a free list and is
// reused by later requests on the same stream (work on one stream runs in order, so a
// block freed on the host may be reused at once by later work on that stream).
//
// Sizes are rounded to 512 bytes. Requests up to 1 MiB come from 2 MiB segments (the
// small pool); larger ones from segments of 20 MiB (requests under 10 MiB) or of the
// request rounded to 2 MiB (the large pool). A free block larger than the request is
// split; a freed block merges with free neighbours of its segment. When cudaMalloc
// fails, the cached segments that are wholly free are released and the call retried;
// when it fails again, an engine::Error says how much was asked, what is in use and
// what to try.
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include "engine/backends/cuda/context.h"

namespace engine::runtime::cuda {

std::string format_bytes(size_t n);  // "1.50 GiB"

class CachingAllocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Never returns nullptr for nbytes > 0; nullptr for nbytes == 0.
  void* allocate(size_t nbytes, cudaStream_t stream);
  void free(void* ptr);
  // Releases every wholly free segment (synchronises the device first), except those
  // of private pools, which live CUDA graphs still use.
  void empty_cache();
  CudaMemoryStats stats() const;
  void reset_peak();
  void set_poison(bool on) { poison_ = on; }

  // CUDA-graph capture. Between begin_private_pool and end_private_pool, requests on
  // `stream` are served from blocks that belong to the pool `id` (and blocks freed later
  // go back to it), so memory a captured graph reads or writes is never handed to work
  // outside the graph while the graph lives; replays reuse the same addresses and
  // allocate nothing. release_private_pool gives the pool's blocks back to the
  // stream's ordinary pool once the graph is destroyed.
  void begin_private_pool(uint64_t id, cudaStream_t stream);
  void end_private_pool();
  void release_private_pool(uint64_t id, cudaStream_t stream);
  bool has_private_pools() const;

 private:
  struct Block {
    cudaStream_t stream;
    size_t size;
    char* ptr;
    bool small;
    bool allocated = false;
    Block* prev = nullptr;  // neighbours inside one segment
    Block* next = nullptr;
  };
  // Ordered by stream, then size, then address: lower_bound finds the best fit.
  struct BlockLess {
    bool operator()(const Block* a, const Block* b) const;
  };
  using Pool = std::set<Block*, BlockLess>;

  Block* find_free(Pool& pool, size_t size, cudaStream_t stream);
  Block* new_segment(size_t size, bool small, cudaStream_t stream, size_t requested);
  void release_free_segments();
  // Blocks are keyed by stream; a private pool uses an odd number as its key, which no
  // real stream handle (an aligned pointer) can equal.
  static cudaStream_t pool_key(uint64_t id) { return reinterpret_cast<cudaStream_t>(uintptr_t(id) * 16 + 1); }
  static bool is_pool_key(cudaStream_t s) { return (reinterpret_cast<uintptr_t>(s) & 1) != 0; }

  int device_;
  std::atomic<bool> poison_{false};
  mutable std::mutex mu_;
  Pool small_pool_, large_pool_;
  std::unordered_map<void*, Block*> live_;
  CudaMemoryStats stats_;
  cudaStream_t capture_stream_ = nullptr;  // the stream being captured, when a private pool is active
  cudaStream_t capture_key_ = nullptr;
  std::set<uint64_t> private_pools_;
};

}  // namespace engine::runtime::cuda
