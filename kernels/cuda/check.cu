#include <cstdlib>
#include <cstring>
#include <sstream>

#include "base/check.h"
#include "kernels/cuda/check.h"

namespace engine::kernels {
namespace {
thread_local const char* t_current_op = "";
}  // namespace

const char* cuda_current_op() { return t_current_op; }

CudaOpScope::CudaOpScope(const char* op) : prev_(t_current_op) { t_current_op = op; }
CudaOpScope::~CudaOpScope() { t_current_op = prev_; }

bool cuda_sync_debug() {
  static const bool on = [] {
    const char* v = std::getenv("ENGINE_CUDA_SYNC");
    return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
  }();
  return on;
}

void cuda_fail(const char* library, const char* call, const char* error, const char* file, int line) {
  std::ostringstream o;
  o << library << " call " << call << " failed: " << error;
  int dev = -1;
  if (cudaGetDevice(&dev) == cudaSuccess) o << " on cuda:" << dev;
  if (t_current_op[0] != '\0') o << " while running op " << t_current_op;
  if (!cuda_sync_debug())
    o << " (errors of asynchronous kernels surface at a later call: rerun with ENGINE_CUDA_SYNC=1 to stop at"
         " the op that caused it)";
  throw Error(o.str(), file, line);
}

}  // namespace engine::kernels
