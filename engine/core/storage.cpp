#include "engine/core/storage.h"

#include <cstdlib>
#include <cstring>

#include "engine/core/check.h"
#include "engine/runtime/backend.h"

namespace engine {
namespace {

constexpr size_t kCpuAlignment = 64;

void* cpu_alloc(size_t nbytes, int) {
  size_t n = (nbytes + kCpuAlignment - 1) / kCpuAlignment * kCpuAlignment;
  void* p = std::aligned_alloc(kCpuAlignment, n == 0 ? kCpuAlignment : n);
  ENGINE_CHECK(p != nullptr, "out of host memory: could not allocate " << nbytes << " bytes");
  return p;
}
void cpu_free(void* p, int) { std::free(p); }
void cpu_copy(void* dst, Device, const void* src, Device, size_t n) {
  if (n) std::memcpy(dst, src, n);
}
void cpu_memset_zero(void* p, size_t n, int) {
  if (n) std::memset(p, 0, n);
}

DeviceMemoryHooks g_hooks[kNumDeviceTypes] = {
    DeviceMemoryHooks{cpu_alloc, cpu_free, cpu_copy, cpu_memset_zero}, DeviceMemoryHooks{}};

}  // namespace

const DeviceMemoryHooks* device_memory_hooks(DeviceType t) {
  if (t == DeviceType::CUDA) runtime::ensure_backends_registered();
  const DeviceMemoryHooks& h = g_hooks[int(t)];
  return h.alloc ? &h : nullptr;
}

void set_device_memory_hooks(DeviceType t, const DeviceMemoryHooks& hooks) { g_hooks[int(t)] = hooks; }

static const DeviceMemoryHooks& require_hooks(Device d) {
  const DeviceMemoryHooks* h = device_memory_hooks(d.type);
  if (!h) {
    ENGINE_THROW("device " << d.str() << " is unavailable: " << runtime::cuda_unavailable_reason());
  }
  return *h;
}

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) {
  const DeviceMemoryHooks& h = require_hooks(dst_dev.is_cuda() ? dst_dev : src_dev);
  h.copy(dst, dst_dev, src, src_dev, nbytes);
}

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = require_hooks(device).alloc(nbytes, device.index);
}

Storage::~Storage() {
  if (data_) {
    const DeviceMemoryHooks* h = device_memory_hooks(device_.type);
    if (h) h->free(data_, device_.index);
  }
}

}  // namespace engine
