// Start-up of the CUDA backend: kernel registration (before main(), whenever the
// backend is compiled in), and on first use device discovery and the memory hooks
// through which Storage allocates, frees, copies and zeroes. The build links this file
// whole (WHOLE_ARCHIVE), so that no caller has to name it.
#include <string>

#include "engine/backends/cuda/adapter.h"
#include "engine/backends/cuda/allocator.h"
#include "engine/backends/cuda/device.h"
#include "engine/core/backend.h"
#include "engine/core/storage.h"
#include "kernels/cuda/check.h"

namespace engine::runtime {
namespace {

void register_cuda_kernels() {
  register_cuda_elementwise();
  register_cuda_misc();
  register_cuda_reduce();
  register_cuda_linalg();
  register_cuda_conv();
  register_cuda_norm_pool();
  register_cuda_norm_act();
  register_cuda_softmax();
  register_cuda_index();
  register_cuda_optim();
  register_cuda_amp();
  register_cuda_moe();
  register_cuda_augment();
  register_cuda_transformer();
}

std::string describe_device_count_error(cudaError_t e) {
  std::string what = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
  switch (e) {
    case cudaErrorNoDevice: return "no CUDA device found (" + what + ")";
    case cudaErrorInsufficientDriver:
      return "no CUDA driver found, or the driver is older than this CUDA runtime (" + what + ")";
    default: return "cudaGetDeviceCount failed (" + what + ")";
  }
}

void* hook_alloc(size_t nbytes, int device) {
  cuda::check_device(device);
  return cuda::allocator(device).allocate(nbytes, cuda::compute_stream(device));
}

void hook_free(void* ptr, int device) {
  if (ptr != nullptr) cuda::allocator(device).free(ptr);
}

void hook_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) {
  if (nbytes == 0) return;
  if (dst_dev.is_cuda() && src_dev.is_cuda()) {
    cuda::check_device(dst_dev.index);
    cuda::check_device(src_dev.index);
    if (dst_dev.index == src_dev.index) {
      cuda::DeviceGuard g(dst_dev.index);
      ENGINE_CUDA_CHECK(
          cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, cuda::compute_stream(dst_dev.index)));
    } else {
      // Across devices: both sides settle first and the copy completes before returning,
      // so neither allocator can hand the memory out while the copy runs.
      cuda::synchronize(src_dev.index);
      cuda::synchronize(dst_dev.index);
      cuda::DeviceGuard g(dst_dev.index);
      ENGINE_CUDA_CHECK(cudaMemcpyPeer(dst, dst_dev.index, src, src_dev.index, nbytes));
    }
  } else if (dst_dev.is_cuda()) {
    cuda::check_device(dst_dev.index);
    cuda::DeviceGuard g(dst_dev.index);
    // Host tensors live in pageable memory, which the driver stages before this returns:
    // the host buffer may be freed at once.
    ENGINE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, cuda::compute_stream(dst_dev.index)));
  } else {
    cuda::check_device(src_dev.index);
    cuda::DeviceGuard g(src_dev.index);
    ENGINE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, cuda::compute_stream(src_dev.index)));
    cuda::synchronize(src_dev.index);
  }
}

void hook_memset_zero(void* ptr, size_t nbytes, int device) {
  if (nbytes == 0) return;
  cuda::check_device(device);
  cuda::DeviceGuard g(device);
  ENGINE_CUDA_CHECK(cudaMemsetAsync(ptr, 0, nbytes, cuda::compute_stream(device)));
}

// Memory hooks only when a device answers; the kernels are in the table regardless,
// so that the op table can be checked on machines without a GPU.
bool cuda_backend_init(std::string* reason) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    *reason = describe_device_count_error(e);
    return false;
  }
  if (count < 1) {
    *reason = "no CUDA device found";
    return false;
  }
  cuda::init_devices(count);
  set_device_memory_hooks(DeviceType::CUDA, DeviceMemoryHooks{hook_alloc, hook_free, hook_copy, hook_memset_zero});
  cuda::install_pinned_memory_hooks();
  return true;
}

int cuda_backend_device_count() { return cuda::device_count(); }

bool register_cuda_backend() {
  register_cuda_kernels();
  DeviceBackend b;
  b.init = cuda_backend_init;
  b.device_count = cuda_backend_device_count;
  register_device_backend(DeviceType::CUDA, b);
  return true;
}

const bool g_registered = register_cuda_backend();

}  // namespace

}  // namespace engine::runtime
