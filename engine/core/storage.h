#pragma once
#include <cstddef>
#include <memory>

#include "base/device.h"

namespace engine {

// A device backend's memory services. The CPU one is built in; the CUDA runtime
// installs its own when a device answers (engine/backends/cuda). Absent backends are nullptr.
struct DeviceMemoryHooks {
  void* (*alloc)(size_t nbytes, int device_index) = nullptr;
  void (*free)(void* ptr, int device_index) = nullptr;
  // Copies between any two devices of which at least one is this backend's.
  void (*copy)(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) = nullptr;
  void (*memset_zero)(void* ptr, size_t nbytes, int device_index) = nullptr;
};

const DeviceMemoryHooks* device_memory_hooks(DeviceType t);  // nullptr when the backend is absent
void set_device_memory_hooks(DeviceType t, const DeviceMemoryHooks& hooks);

// Page-locked host memory, which a device can copy from asynchronously. The CUDA
// runtime installs these when a device answers (cudaHostAlloc behind a small cache).
struct PinnedMemoryHooks {
  void* (*alloc)(size_t nbytes) = nullptr;
  void (*free)(void* ptr) = nullptr;
  // Host (pinned) -> device copy on the device's copy stream; the compute stream waits
  // for it before its next op. Returns before the copy is done.
  void (*copy_to_device_async)(void* dst, const void* src, size_t nbytes, int device_index) = nullptr;
};
const PinnedMemoryHooks* pinned_memory_hooks();  // nullptr without a usable device
void set_pinned_memory_hooks(const PinnedMemoryHooks& hooks);
bool pinned_memory_available();

// Bytes held by CPU storages (pageable and pinned), counted as the Storage sizes asked.
struct HostMemoryStats {
  size_t allocated = 0, peak_allocated = 0;  // peak: since the start or the last reset
  size_t pinned = 0;                         // of `allocated`, page-locked
  uint64_t num_allocs = 0;
};
HostMemoryStats host_memory_stats();
void reset_host_peak_memory();  // peak := what is allocated now

// Copies bytes between devices (host<->host, host<->cuda, cuda<->cuda).
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes);

// One block of device memory, shared by every tensor viewing it.
class Storage {
 public:
  // pinned asks for page-locked memory on the CPU; where none can be had (no CUDA
  // device) the storage is ordinary memory and pinned() says false.
  Storage(size_t nbytes, Device device, bool pinned = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  bool pinned_ = false;
};

}  // namespace engine
