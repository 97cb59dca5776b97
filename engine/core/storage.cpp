#include "engine/core/storage.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "base/check.h"
#include "engine/core/backend.h"
#include "engine/core/host_allocator.h"

namespace engine {
namespace {

// Host memory comes from the caching allocator (host_allocator.h), 64-byte aligned.
void* cpu_alloc(size_t nbytes, int) { return host_allocate(nbytes); }
void cpu_free(void* p, int) { host_free(p); }
void cpu_copy(void* dst, Device, const void* src, Device, size_t n) {
  if (n) std::memcpy(dst, src, n);
}
void cpu_memset_zero(void* p, size_t n, int) {
  if (n) std::memset(p, 0, n);
}

DeviceMemoryHooks g_hooks[kNumDeviceTypes] = {DeviceMemoryHooks{cpu_alloc, cpu_free, cpu_copy, cpu_memset_zero},
                                              DeviceMemoryHooks{}};

PinnedMemoryHooks g_pinned_hooks;

std::atomic<size_t> g_host_allocated{0}, g_host_peak{0}, g_host_pinned{0};
std::atomic<uint64_t> g_host_allocs{0};

void count_host_alloc(size_t n, bool pinned) {
  size_t now = g_host_allocated.fetch_add(n) + n;
  size_t peak = g_host_peak.load();
  while (now > peak && !g_host_peak.compare_exchange_weak(peak, now)) {
  }
  if (pinned) g_host_pinned.fetch_add(n);
  g_host_allocs.fetch_add(1);
}

void count_host_free(size_t n, bool pinned) {
  g_host_allocated.fetch_sub(n);
  if (pinned) g_host_pinned.fetch_sub(n);
}

}  // namespace

const PinnedMemoryHooks* pinned_memory_hooks() {
  runtime::ensure_backends_registered();
  return g_pinned_hooks.alloc ? &g_pinned_hooks : nullptr;
}
void set_pinned_memory_hooks(const PinnedMemoryHooks& hooks) { g_pinned_hooks = hooks; }
bool pinned_memory_available() { return pinned_memory_hooks() != nullptr; }

HostMemoryStats host_memory_stats() {
  HostMemoryStats s;
  s.allocated = g_host_allocated.load();
  s.peak_allocated = g_host_peak.load();
  s.pinned = g_host_pinned.load();
  s.num_allocs = g_host_allocs.load();
  return s;
}

void reset_host_peak_memory() { g_host_peak.store(g_host_allocated.load()); }

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

Storage::Storage(size_t nbytes, Device device, bool pinned) : nbytes_(nbytes), device_(device) {
  if (pinned && device.is_cpu()) {
    if (const PinnedMemoryHooks* p = pinned_memory_hooks()) {
      data_ = p->alloc(nbytes);
      pinned_ = true;
    }
  }
  if (!pinned_) data_ = require_hooks(device).alloc(nbytes, device.index);
  if (device.is_cpu()) count_host_alloc(nbytes, pinned_);
}

Storage::~Storage() {
  if (device_.is_cpu()) count_host_free(nbytes_, pinned_);
  if (!data_) return;
  if (pinned_) {
    g_pinned_hooks.free(data_);
  } else if (const DeviceMemoryHooks* h = device_memory_hooks(device_.type)) {
    h->free(data_, device_.index);
  }
}

}  // namespace engine
