#pragma once
// Checked CUDA, cuBLAS and cuDNN calls. A failure throws engine::Error naming the
// call, the library's error text, the op being run on this thread and file:line.
// Plain C++ (no device code), so host-only files can use it too.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace engine::kernels {

// Where index kernels report an out-of-range index they meet (mapped host memory;
// the runtime reads it after synchronising and throws). Kernels never touch memory
// at a bad index.
struct CudaIndexError {
  int flag;  // 0: nothing seen
  int pad;
  long long value, bound;
};

// The op whose kernels this thread is launching ("" outside of ops), for error messages.
const char* cuda_current_op();
// Names the running op for the lifetime of the scope.
class CudaOpScope {
 public:
  explicit CudaOpScope(const char* op);
  ~CudaOpScope();
  CudaOpScope(const CudaOpScope&) = delete;
  CudaOpScope& operator=(const CudaOpScope&) = delete;

 private:
  const char* prev_;
};

// True when ENGINE_CUDA_SYNC=1: the runtime synchronises after every op.
bool cuda_sync_debug();

[[noreturn]] void cuda_fail(const char* library, const char* call, const char* error, const char* file, int line);

inline void cuda_check(cudaError_t e, const char* call, const char* file, int line) {
  if (e != cudaSuccess) cuda_fail("CUDA", call, cudaGetErrorString(e), file, line);
}

}  // namespace engine::kernels

#define ENGINE_CUDA_CHECK(call) ::engine::kernels::cuda_check((call), #call, __FILE__, __LINE__)
// After every kernel launch: catches bad launch configurations at once.
#define ENGINE_CUDA_LAUNCH_CHECK(kernel_name) \
  ::engine::kernels::cuda_check(cudaGetLastError(), "launch of " kernel_name, __FILE__, __LINE__)
