#pragma once
#include <cstddef>
#include <memory>

#include "engine/core/device.h"

namespace engine {

// A device backend's memory services. The CPU one is built in; the CUDA runtime
// installs its own at start-up (engine/runtime). Absent backends are nullptr.
struct DeviceMemoryHooks {
  void* (*alloc)(size_t nbytes, int device_index) = nullptr;
  void (*free)(void* ptr, int device_index) = nullptr;
  // Copies between any two devices of which at least one is this backend's.
  void (*copy)(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) = nullptr;
  void (*memset_zero)(void* ptr, size_t nbytes, int device_index) = nullptr;
};

const DeviceMemoryHooks* device_memory_hooks(DeviceType t);  // nullptr when the backend is absent
void set_device_memory_hooks(DeviceType t, const DeviceMemoryHooks& hooks);

// Copies bytes between devices (host<->host, host<->cuda, cuda<->cuda).
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes);

// One block of device memory, shared by every tensor viewing it.
class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
};

}  // namespace engine
