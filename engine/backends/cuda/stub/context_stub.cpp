// cuda_context.h in a build without the CUDA backend: every call that needs a device
// throws, naming why CUDA is unavailable.
#ifndef ENGINE_HAS_CUDA
#include "base/check.h"
#include "engine/backends/cuda/context.h"
#include "engine/core/backend.h"

namespace engine::runtime {
namespace {
[[noreturn]] void unavailable() { ENGINE_THROW("CUDA is unavailable: " << cuda_unavailable_reason()); }
}  // namespace

CudaMemoryStats cuda_memory_stats(int) { unavailable(); }
void cuda_reset_peak_memory(int) { unavailable(); }
void cuda_empty_cache(int) { unavailable(); }
void cuda_set_poison_allocations(bool) {}
bool cuda_tf32_enabled() { return false; }
void cuda_set_tf32(bool) {}
CudaDeviceInfo cuda_device_info(int) { unavailable(); }
void* cuda_compute_stream(int) { unavailable(); }
void* cuda_copy_stream(int) { unavailable(); }
void cuda_synchronize(int) { unavailable(); }
void cuda_copy_to_device_async(void*, const void*, size_t, int) { unavailable(); }
CudaEventTimer::CudaEventTimer(int device) : device_(device) { unavailable(); }
CudaEventTimer::~CudaEventTimer() = default;
void CudaEventTimer::start() { unavailable(); }
float CudaEventTimer::stop_ms() { unavailable(); }

}  // namespace engine::runtime
#endif
