#pragma once
// Per-device CUDA state for the runtime and the CUDA adapters: streams, library
// handles bound to the compute stream, device properties (read once), the caching
// allocator and the shared workspace. Everything is created on first use.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstddef>

#include "kernels/cuda/check.h"

namespace engine::runtime::cuda {

class CachingAllocator;

// Sets up the state of `count` devices; called once by the backend's start-up.
void init_devices(int count);
int device_count();
// Throws unless a device with this index exists.
void check_device(int device);

// Makes `device` current for the calling thread and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;
};

cudaStream_t compute_stream(int device);
cudaStream_t copy_stream(int device);
cublasHandle_t cublas_handle(int device);
cudnnHandle_t cudnn_handle(int device);
const cudaDeviceProp& device_properties(int device);
CachingAllocator& allocator(int device);
// Scratch memory of at least nbytes for library calls on the compute stream, shared
// by every op of the device: valid until the next workspace() call for that device.
void* workspace(int device, size_t nbytes);
kernels::CudaIndexError* index_error_record(int device);

// True while the device's compute stream is being captured into a CUDA graph.
bool capturing(int device);
// Waits for both streams, then throws if an index kernel reported a bad index.
void synchronize(int device);
void check_index_errors(int device);

bool tf32_enabled();
void set_tf32(bool on);

// Page-locked host memory (cuda_pinned.cu): installs the PinnedMemoryHooks of storage.h.
void install_pinned_memory_hooks();

}  // namespace engine::runtime::cuda
