#pragma once
// CUDA runtime services for apps, tests and benchmarks: memory statistics of the
// caching allocator, streams, device facts and event timing. Plain C++: CUDA types
// appear as void*. In a build without the CUDA backend every call that needs a
// device throws engine::Error; check runtime::cuda_available() (backend.h) first.
#include <cstddef>
#include <cstdint>
#include <string>

namespace engine::runtime {

struct CudaMemoryStats {
  size_t allocated = 0;       // bytes in live blocks (sizes rounded to 512 bytes)
  size_t reserved = 0;        // bytes obtained from cudaMalloc and held by the allocator
  size_t peak_allocated = 0;  // high-water marks since the start or the last reset
  size_t peak_reserved = 0;
  uint64_t num_allocs = 0;          // allocation requests
  uint64_t num_cache_hits = 0;      // requests served from cached blocks
  uint64_t num_device_mallocs = 0;  // cudaMalloc calls
  uint64_t num_device_frees = 0;    // cudaFree calls
  uint64_t num_ooms = 0;            // requests that failed even after the cache was released
};

CudaMemoryStats cuda_memory_stats(int device = 0);
void cuda_reset_peak_memory(int device = 0);
// Returns every cached segment that holds no live block to the driver (the memory of
// live CUDA graphs excepted: their replays still use it).
void cuda_empty_cache(int device = 0);
// Fills each new allocation with 0xFF bytes (NaN in every float dtype, -1 in integer
// ones), so that a kernel leaving part of its output unwritten is caught by a
// comparison. Also switched on by the environment variable ENGINE_CUDA_POISON=1.
void cuda_set_poison_allocations(bool on);

// TF32 tensor-core math for f32 GEMMs and convolutions. Off unless ENGINE_TF32=1.
bool cuda_tf32_enabled();
void cuda_set_tf32(bool on);

struct CudaDeviceInfo {
  std::string name;
  int major = 0, minor = 0;  // compute capability
  int sm_count = 0;
  size_t total_memory = 0;
  size_t l2_cache_bytes = 0;
};
CudaDeviceInfo cuda_device_info(int device = 0);

// The per-device streams (cudaStream_t as void*): every op runs on the compute stream;
// the copy stream is for host-to-device transfers that overlap with compute.
void* cuda_compute_stream(int device = 0);
void* cuda_copy_stream(int device = 0);
// Waits for both streams of the device, then reports (throws) any out-of-range index
// seen by an index kernel since the last check.
void cuda_synchronize(int device = 0);
// Copies host memory to the device on the copy stream; the compute stream waits for
// the copy before its next op. The host buffer may be reused when this returns only if
// it is pageable memory (the driver stages it); pinned buffers must outlive the copy.
void cuda_copy_to_device_async(void* dst, const void* src, size_t nbytes, int device = 0);

// Times work on the compute stream of one device with CUDA events.
class CudaEventTimer {
 public:
  explicit CudaEventTimer(int device = 0);
  ~CudaEventTimer();
  CudaEventTimer(const CudaEventTimer&) = delete;
  CudaEventTimer& operator=(const CudaEventTimer&) = delete;
  void start();
  // Records the stop event, waits for it and returns the milliseconds since start().
  float stop_ms();

 private:
  int device_;
  void* start_ = nullptr;
  void* stop_ = nullptr;
};

}  // namespace engine::runtime
