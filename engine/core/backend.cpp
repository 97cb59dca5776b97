#include "engine/core/backend.h"

#include <mutex>

namespace engine {
namespace {
// Constant-initialised, so that registrars running before main() find it ready.
DeviceBackend g_backends[kNumDeviceTypes];
bool g_registered[kNumDeviceTypes] = {};
}  // namespace

void register_device_backend(DeviceType t, const DeviceBackend& backend) {
  g_backends[int(t)] = backend;
  g_registered[int(t)] = true;
}

const DeviceBackend* registered_backend(DeviceType t) { return g_registered[int(t)] ? &g_backends[int(t)] : nullptr; }

}  // namespace engine

namespace engine::runtime {
namespace {
std::once_flag g_once;
bool g_cuda_ok = false;
std::string g_reason;

void init() {
  const DeviceBackend* cuda = registered_backend(DeviceType::CUDA);
  if (cuda == nullptr) {
    g_reason = "this build has no CUDA backend (configure with -DENGINE_CUDA=ON)";
    return;
  }
  g_cuda_ok = cuda->init == nullptr || cuda->init(&g_reason);
  if (g_cuda_ok) g_reason.clear();
}
}  // namespace

void ensure_backends_registered() { std::call_once(g_once, init); }
bool cuda_compiled() { return registered_backend(DeviceType::CUDA) != nullptr; }
bool cuda_available() {
  ensure_backends_registered();
  return g_cuda_ok;
}
int cuda_device_count() {
  if (!cuda_available()) return 0;
  const DeviceBackend* cuda = registered_backend(DeviceType::CUDA);
  return cuda->device_count ? cuda->device_count() : 1;
}
std::string cuda_unavailable_reason() {
  ensure_backends_registered();
  return g_reason;
}

}  // namespace engine::runtime
