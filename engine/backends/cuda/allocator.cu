#include <cstdio>
#include <functional>
#include <sstream>
#include <vector>

#include "base/check.h"
#include "engine/backends/cuda/allocator.h"
#include "engine/backends/cuda/device.h"
#include "kernels/cuda/check.h"

#if defined(ENGINE_CUDA_SIM) && defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace engine::runtime::cuda {
namespace {

// On the simulated device under AddressSanitizer, device memory is host memory that
// ASan watches: the allocator marks the parts of its segments that no live tensor
// owns, so that a kernel running past the end of a tensor is caught even when the
// next block of the same segment lies there. No effect in other builds.
void mark_unowned(const void* p, size_t n) {
#if defined(ENGINE_CUDA_SIM) && defined(__SANITIZE_ADDRESS__)
  ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}
void mark_owned(const void* p, size_t n) {
#if defined(ENGINE_CUDA_SIM) && defined(__SANITIZE_ADDRESS__)
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p;
  (void)n;
#endif
}

constexpr size_t kRound = 512;
constexpr size_t kSmallLimit = size_t(1) << 20;     // requests up to this size use the small pool
constexpr size_t kSmallSegment = size_t(2) << 20;   // segment size of the small pool
constexpr size_t kLargeSegment = size_t(20) << 20;  // segment size for requests under kLargeDirect
constexpr size_t kLargeDirect = size_t(10) << 20;
constexpr size_t kSegmentRound = size_t(2) << 20;
constexpr size_t kMinLargeRemainder = size_t(1) << 20;  // a large block is split only above this rest

size_t round_size(size_t n) { return n < kRound ? kRound : (n + kRound - 1) / kRound * kRound; }

size_t segment_size(size_t size) {
  if (size <= kSmallLimit) return kSmallSegment;
  if (size < kLargeDirect) return kLargeSegment;
  return (size + kSegmentRound - 1) / kSegmentRound * kSegmentRound;
}

}  // namespace

std::string format_bytes(size_t n) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(2);
  if (n >= (size_t(1) << 30)) {
    o << double(n) / double(size_t(1) << 30) << " GiB";
  } else if (n >= (size_t(1) << 20)) {
    o << double(n) / double(size_t(1) << 20) << " MiB";
  } else if (n >= 1024) {
    o << double(n) / 1024.0 << " KiB";
  } else {
    o << n << " bytes";
  }
  return o.str();
}

bool CachingAllocator::BlockLess::operator()(const Block* a, const Block* b) const {
  if (a->stream != b->stream) return std::less<cudaStream_t>()(a->stream, b->stream);
  if (a->size != b->size) return a->size < b->size;
  return std::less<char*>()(a->ptr, b->ptr);
}

CachingAllocator::Block* CachingAllocator::find_free(Pool& pool, size_t size, cudaStream_t stream) {
  Block key{stream, size, nullptr, false};
  auto it = pool.lower_bound(&key);
  if (it == pool.end() || (*it)->stream != stream) return nullptr;
  Block* b = *it;
  pool.erase(it);
  return b;
}

CachingAllocator::Block* CachingAllocator::new_segment(size_t size, bool small, cudaStream_t stream, size_t requested) {
  void* p = nullptr;
  bool capturing = capture_key_ != nullptr;
  cudaError_t e;
  if (capturing) {
    // cudaMalloc is not captured (the memory simply exists, owned by the private pool),
    // but the capturing thread's strict mode would invalidate the capture: relax it.
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    ENGINE_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
    e = cudaMalloc(&p, size);
    ENGINE_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
  } else {
    e = cudaMalloc(&p, size);
  }
  if (e == cudaErrorMemoryAllocation && !capturing) {
    (void)cudaGetLastError();  // a failed cudaMalloc is not sticky; clear it for later launch checks
    release_free_segments();   // synchronises the device: not possible during a capture
    e = cudaMalloc(&p, size);
  }
  if (e == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    ++stats_.num_ooms;
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
    const char* op = kernels::cuda_current_op();
    ENGINE_THROW("CUDA out of memory on cuda:" << device_ << (op[0] ? " in op " : "") << op << ": asked for "
                                               << format_bytes(requested) << ", while live tensors hold "
                                               << format_bytes(stats_.allocated) << ", the caching allocator has "
                                               << format_bytes(stats_.reserved) << " reserved, and the device has "
                                               << format_bytes(free_b) << " free of " << format_bytes(total_b)
                                               << ". Try a smaller batch size, bf16 activations, or releasing "
                                                  "tensors that are no longer needed");
  }
  kernels::cuda_check(e, "cudaMalloc", __FILE__, __LINE__);
  ++stats_.num_device_mallocs;
  mark_unowned(p, size);
  stats_.reserved += size;
  if (stats_.reserved > stats_.peak_reserved) stats_.peak_reserved = stats_.reserved;
  return new Block{stream, size, static_cast<char*>(p), small};
}

void CachingAllocator::release_free_segments() {
  // Freed blocks may still be read by queued kernels: wait for them first.
  kernels::cuda_check(cudaDeviceSynchronize(), "cudaDeviceSynchronize", __FILE__, __LINE__);
  for (Pool* pool : {&small_pool_, &large_pool_}) {
    for (auto it = pool->begin(); it != pool->end();) {
      Block* b = *it;
      // A live graph's free blocks stay: its replays still write them.
      if (b->prev == nullptr && b->next == nullptr && !is_pool_key(b->stream)) {
        kernels::cuda_check(cudaFree(b->ptr), "cudaFree", __FILE__, __LINE__);
        ++stats_.num_device_frees;
        stats_.reserved -= b->size;
        delete b;
        it = pool->erase(it);
      } else {
        ++it;
      }
    }
  }
}

void* CachingAllocator::allocate(size_t nbytes, cudaStream_t stream) {
  if (nbytes == 0) return nullptr;
  DeviceGuard guard(device_);
  std::lock_guard<std::mutex> lock(mu_);
  size_t size = round_size(nbytes);
  bool small = size <= kSmallLimit;
  Pool& pool = small ? small_pool_ : large_pool_;
  ++stats_.num_allocs;
  cudaStream_t work_stream = stream;  // where the poison fill runs
  if (capture_key_ != nullptr && stream == capture_stream_) stream = capture_key_;
  Block* b = find_free(pool, size, stream);
  if (b) {
    ++stats_.num_cache_hits;
  } else {
    b = new_segment(segment_size(size), small, stream, nbytes);
  }
  size_t rest = b->size - size;
  if (small ? rest >= kRound : rest > kMinLargeRemainder) {
    Block* r = new Block{stream, rest, b->ptr + size, small};
    r->prev = b;
    r->next = b->next;
    if (b->next) b->next->prev = r;
    b->next = r;
    b->size = size;
    pool.insert(r);
  }
  b->allocated = true;
  // A graph's private pool is never marked unowned again: a replay still writes a block's
  // earlier, larger tenants from the same capture.
  if (!is_pool_key(b->stream)) mark_unowned(b->ptr, b->size);
  mark_owned(b->ptr, nbytes);
  live_[b->ptr] = b;
  stats_.allocated += b->size;
  if (stats_.allocated > stats_.peak_allocated) stats_.peak_allocated = stats_.allocated;
  if (poison_.load()) ENGINE_CUDA_CHECK(cudaMemsetAsync(b->ptr, 0xFF, nbytes, work_stream));
  return b->ptr;
}

void CachingAllocator::free(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(ptr);
  if (it == live_.end()) {
    // Called from destructors, which must not throw: report and leak.
    std::fprintf(stderr, "engine: cuda:%d allocator asked to free unknown pointer %p\n", device_, ptr);
    return;
  }
  Block* b = it->second;
  live_.erase(it);
  b->allocated = false;
  // A captured graph's replays still use the blocks freed during its capture.
  if (!is_pool_key(b->stream)) mark_unowned(b->ptr, b->size);
  stats_.allocated -= b->size;
  Pool& pool = b->small ? small_pool_ : large_pool_;
  if (b->prev && !b->prev->allocated) {
    Block* p = b->prev;
    pool.erase(p);  // before its size changes: the pool is ordered by size
    p->size += b->size;
    p->next = b->next;
    if (b->next) b->next->prev = p;
    delete b;
    b = p;
  }
  if (b->next && !b->next->allocated) {
    Block* n = b->next;
    pool.erase(n);
    b->size += n->size;
    b->next = n->next;
    if (n->next) n->next->prev = b;
    delete n;
  }
  pool.insert(b);
}

void CachingAllocator::begin_private_pool(uint64_t id, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  ENGINE_CHECK(capture_key_ == nullptr, "cuda:" << device_ << ": a CUDA graph capture is already under way");
  private_pools_.insert(id);
  capture_stream_ = stream;
  capture_key_ = pool_key(id);
}

void CachingAllocator::end_private_pool() {
  std::lock_guard<std::mutex> lock(mu_);
  capture_stream_ = nullptr;
  capture_key_ = nullptr;
}

void CachingAllocator::release_private_pool(uint64_t id, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  if (private_pools_.erase(id) == 0) return;
  cudaStream_t key = pool_key(id);
  for (Pool* pool : {&small_pool_, &large_pool_}) {
    std::vector<Block*> moved;
    for (auto it = pool->begin(); it != pool->end();) {
      if ((*it)->stream == key) {
        moved.push_back(*it);
        it = pool->erase(it);
      } else {
        ++it;
      }
    }
    for (Block* b : moved) {
      b->stream = stream;
      pool->insert(b);
    }
  }
  // Live blocks (tensors made during the capture and still held) return to the
  // stream's pool when they are freed.
  for (auto& [ptr, b] : live_)
    if (b->stream == key) b->stream = stream;
}

bool CachingAllocator::has_private_pools() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !private_pools_.empty();
}

void CachingAllocator::empty_cache() {
  DeviceGuard guard(device_);
  std::lock_guard<std::mutex> lock(mu_);
  release_free_segments();
}

CudaMemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_allocated = stats_.allocated;
  stats_.peak_reserved = stats_.reserved;
}

}  // namespace engine::runtime::cuda
