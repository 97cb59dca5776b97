#pragma once
// Backend discovery. The CPU backend is always present. The CUDA backend is
// compiled in when ENGINE_HAS_CUDA is defined and is usable only when a driver and
// a device answer; otherwise CUDA reports "unavailable" and everything CPU works.
#include <string>

namespace engine::runtime {

// Registers the CUDA memory hooks and kernels once (no-op without CUDA). Cheap to call.
void ensure_backends_registered();
bool cuda_compiled();
bool cuda_available();
int cuda_device_count();
std::string cuda_unavailable_reason();  // "" when available

}  // namespace engine::runtime
