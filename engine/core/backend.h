#pragma once
// Device backends. A backend registers itself when the program starts (a registrar
// in engine/backends/<device>/): its kernels go into the op table (dispatch.h) and a
// DeviceBackend record into this registry. Core code never names a backend: Storage
// and dispatch() look up what was registered. Device discovery runs once, on first
// use, never at program start. The CPU backend is always present; the CUDA backend is
// present when compiled in and usable only when a driver and a device answer,
// otherwise CUDA reports "unavailable" with the reason and everything CPU works.
#include <string>

#include "engine/core/dispatch.h"

namespace engine {

struct DeviceBackend {
  // Discovers the devices and installs the memory hooks (storage.h); returns false
  // with the reason when no device answers. nullptr: nothing to discover.
  bool (*init)(std::string* reason) = nullptr;
  int (*device_count)() = nullptr;  // after a successful init
  // Runs one kernel of this device; nullptr runs it directly. The CPU backend routes
  // reduced-precision calls through f32 stand-ins here.
  void (*run)(const OpCall& call, KernelFn fn) = nullptr;
};

// Called by a backend's registrar, before main().
void register_device_backend(DeviceType t, const DeviceBackend& backend);
// nullptr when no backend of that type was linked in. Does not run init.
const DeviceBackend* registered_backend(DeviceType t);

}  // namespace engine

namespace engine::runtime {

// Runs the registered backends' device discovery once. Cheap to call again.
void ensure_backends_registered();
bool cuda_compiled();
bool cuda_available();
int cuda_device_count();
std::string cuda_unavailable_reason();  // "" when available

}  // namespace engine::runtime
