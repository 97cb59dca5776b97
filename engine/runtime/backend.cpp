#include "engine/runtime/backend.h"

#include <mutex>

namespace engine::runtime {

#ifdef ENGINE_HAS_CUDA
// Defined in engine/runtime/cuda_backend.cu.
bool cuda_backend_init(std::string* reason);
int cuda_backend_device_count();
#endif

namespace {
std::once_flag g_once;
bool g_cuda_ok = false;
std::string g_reason = "this build has no CUDA backend (configure with -DENGINE_CUDA=ON)";

void init() {
#ifdef ENGINE_HAS_CUDA
  g_cuda_ok = cuda_backend_init(&g_reason);
  if (g_cuda_ok) g_reason.clear();
#endif
}
}  // namespace

void ensure_backends_registered() { std::call_once(g_once, init); }
bool cuda_compiled() {
#ifdef ENGINE_HAS_CUDA
  return true;
#else
  return false;
#endif
}
bool cuda_available() {
  ensure_backends_registered();
  return g_cuda_ok;
}
int cuda_device_count() {
#ifdef ENGINE_HAS_CUDA
  return cuda_available() ? cuda_backend_device_count() : 0;
#else
  return 0;
#endif
}
std::string cuda_unavailable_reason() {
  ensure_backends_registered();
  return g_reason;
}

}  // namespace engine::runtime
