// Page-locked host memory for the CPU side of asynchronous host-to-device copies.
// cudaHostAlloc is slow (it maps and locks pages), so freed buffers are kept in a small
// cache. A freed buffer may still be the source of a copy queued on a copy stream: an
// event recorded on every device's copy stream at the free marks when it is safe, and
// the buffer is handed out again only once those events have completed.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "base/check.h"
#include "engine/backends/cuda/device.h"
#include "engine/core/storage.h"

namespace engine::runtime::cuda {
namespace {

constexpr size_t kRound = size_t(4) << 10;
constexpr size_t kMaxCachedBytes = size_t(512) << 20;

struct CachedBuffer {
  void* ptr = nullptr;
  size_t size = 0;
  std::vector<cudaEvent_t> copies_done;  // one per device
};

struct PinnedCache {
  std::mutex mu;
  std::unordered_map<void*, size_t> live;
  std::vector<CachedBuffer> free_list;
  size_t cached_bytes = 0;
};

PinnedCache& cache() {
  static auto* c = new PinnedCache();  // never destroyed: storages may free at exit
  return *c;
}

bool copies_finished(const CachedBuffer& b) {
  for (cudaEvent_t e : b.copies_done) {
    cudaError_t r = cudaEventQuery(e);
    if (r == cudaErrorNotReady) return false;
    ENGINE_CUDA_CHECK(r);
  }
  return true;
}

void destroy_events(CachedBuffer& b) {
  for (cudaEvent_t e : b.copies_done) (void)cudaEventDestroy(e);
  b.copies_done.clear();
}

// Frees every cached buffer whose copies are done; the caller holds the lock.
void release_finished(PinnedCache& c) {
  for (size_t i = 0; i < c.free_list.size();) {
    CachedBuffer& b = c.free_list[i];
    if (!copies_finished(b)) {
      ++i;
      continue;
    }
    destroy_events(b);
    ENGINE_CUDA_CHECK(cudaFreeHost(b.ptr));
    c.cached_bytes -= b.size;
    c.free_list[i] = c.free_list.back();
    c.free_list.pop_back();
  }
}

void* pinned_alloc(size_t nbytes) {
  const size_t size = (std::max<size_t>(nbytes, 1) + kRound - 1) / kRound * kRound;
  PinnedCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  // The smallest finished buffer that fits and wastes at most half of itself.
  size_t best = c.free_list.size();
  for (size_t i = 0; i < c.free_list.size(); ++i) {
    const CachedBuffer& b = c.free_list[i];
    if (b.size < size || b.size > 2 * size) continue;
    if (best < c.free_list.size() && c.free_list[best].size <= b.size) continue;
    if (copies_finished(b)) best = i;
  }
  if (best < c.free_list.size()) {
    CachedBuffer b = c.free_list[best];
    c.free_list[best] = c.free_list.back();
    c.free_list.pop_back();
    c.cached_bytes -= b.size;
    destroy_events(b);
    c.live[b.ptr] = b.size;
    return b.ptr;
  }
  void* p = nullptr;
  if (cudaHostAlloc(&p, size, cudaHostAllocDefault) != cudaSuccess) {
    (void)cudaGetLastError();
    release_finished(c);
    cudaError_t e = cudaHostAlloc(&p, size, cudaHostAllocDefault);
    ENGINE_CHECK(e == cudaSuccess, "out of pinned host memory: cudaHostAlloc of " << size << " bytes failed ("
                                                                                  << cudaGetErrorString(e) << ")");
  }
  c.live[p] = size;
  return p;
}

void pinned_free(void* ptr) {
  if (ptr == nullptr) return;
  PinnedCache& c = cache();
  CachedBuffer b;
  b.ptr = ptr;
  for (int d = 0; d < device_count(); ++d) {
    DeviceGuard g(d);
    cudaEvent_t e = nullptr;
    ENGINE_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    ENGINE_CUDA_CHECK(cudaEventRecord(e, copy_stream(d)));
    b.copies_done.push_back(e);
  }
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.live.find(ptr);
  ENGINE_CHECK(it != c.live.end(), "pinned_free: " << ptr << " was not allocated as pinned memory");
  b.size = it->second;
  c.live.erase(it);
  if (c.cached_bytes + b.size > kMaxCachedBytes) release_finished(c);
  if (c.cached_bytes + b.size > kMaxCachedBytes) {
    for (cudaEvent_t e : b.copies_done) ENGINE_CUDA_CHECK(cudaEventSynchronize(e));
    destroy_events(b);
    ENGINE_CUDA_CHECK(cudaFreeHost(ptr));
    return;
  }
  c.cached_bytes += b.size;
  c.free_list.push_back(std::move(b));
}

void copy_to_device_async(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  check_device(device);
  DeviceGuard g(device);
  cudaStream_t compute = compute_stream(device), copy = copy_stream(device);
  // The destination comes from the compute stream's pool: a reused block may still be
  // read by work queued there, so the copy starts after that work.
  cudaEvent_t before = nullptr, done = nullptr;
  ENGINE_CUDA_CHECK(cudaEventCreateWithFlags(&before, cudaEventDisableTiming));
  ENGINE_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  ENGINE_CUDA_CHECK(cudaEventRecord(before, compute));
  ENGINE_CUDA_CHECK(cudaStreamWaitEvent(copy, before, 0));
  ENGINE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, copy));
  ENGINE_CUDA_CHECK(cudaEventRecord(done, copy));
  ENGINE_CUDA_CHECK(cudaStreamWaitEvent(compute, done, 0));
  // Destroying a recorded event is safe: it is released once it completes.
  ENGINE_CUDA_CHECK(cudaEventDestroy(before));
  ENGINE_CUDA_CHECK(cudaEventDestroy(done));
}

}  // namespace

void install_pinned_memory_hooks() {
  set_pinned_memory_hooks(PinnedMemoryHooks{pinned_alloc, pinned_free, copy_to_device_async});
}

}  // namespace engine::runtime::cuda
