#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "base/check.h"
#include "engine/backends/cuda/allocator.h"
#include "engine/backends/cuda/context.h"
#include "engine/backends/cuda/device.h"
#include "engine/core/backend.h"
#include "kernels/cuda/libs.h"

namespace engine::runtime::cuda {
namespace {

constexpr size_t kCublasWorkspace = size_t(32) << 20;  // what cuBLAS recommends for Hopper
constexpr size_t kWorkspaceRound = size_t(1) << 20;

struct DeviceState {
  explicit DeviceState(int i) : index(i), alloc(i) {}
  int index;
  CachingAllocator alloc;
  std::once_flag props_once, streams_once, cublas_once, cudnn_once, err_once;
  cudaDeviceProp props{};
  cudaStream_t compute = nullptr, copy = nullptr;
  cublasHandle_t cublas = nullptr;
  void* cublas_ws = nullptr;
  cudnnHandle_t cudnn = nullptr;
  std::mutex ws_mu;
  void* ws = nullptr;
  size_t ws_bytes = 0;
  std::vector<void*> retired_ws;  // outgrown workspaces a captured graph may still use
  kernels::CudaIndexError* err = nullptr;
};

// Never destroyed: tensors held in statics may still free memory at exit, and the
// driver reclaims everything when the process ends.
std::vector<DeviceState*>* g_devices = nullptr;

bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

std::atomic<bool> g_tf32{env_on("ENGINE_TF32")};

DeviceState& state(int device) {
  check_device(device);
  return *(*g_devices)[size_t(device)];
}

}  // namespace

void init_devices(int count) {
  auto* devices = new std::vector<DeviceState*>();
  bool poison = env_on("ENGINE_CUDA_POISON");
  for (int i = 0; i < count; ++i) {
    devices->push_back(new DeviceState(i));
    devices->back()->alloc.set_poison(poison);
  }
  g_devices = devices;
}

int device_count() { return g_devices ? int(g_devices->size()) : 0; }

void check_device(int device) {
  ENGINE_CHECK(g_devices != nullptr, "CUDA is unavailable: " << cuda_unavailable_reason());
  ENGINE_CHECK(device >= 0 && device < device_count(),
               "device cuda:" << device << " does not exist: this machine has " << device_count() << " CUDA device(s)");
}

DeviceGuard::DeviceGuard(int device) {
  ENGINE_CUDA_CHECK(cudaGetDevice(&prev_));
  if (prev_ != device) ENGINE_CUDA_CHECK(cudaSetDevice(device));
}

DeviceGuard::~DeviceGuard() {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != prev_) (void)cudaSetDevice(prev_);
}

const cudaDeviceProp& device_properties(int device) {
  DeviceState& s = state(device);
  std::call_once(s.props_once, [&] { ENGINE_CUDA_CHECK(cudaGetDeviceProperties(&s.props, device)); });
  return s.props;
}

static void create_streams(DeviceState& s) {
  std::call_once(s.streams_once, [&] {
    DeviceGuard g(s.index);
    // Non-blocking: no implicit ordering with the legacy default stream, which we never use.
    ENGINE_CUDA_CHECK(cudaStreamCreateWithFlags(&s.compute, cudaStreamNonBlocking));
    ENGINE_CUDA_CHECK(cudaStreamCreateWithFlags(&s.copy, cudaStreamNonBlocking));
  });
}

cudaStream_t compute_stream(int device) {
  DeviceState& s = state(device);
  create_streams(s);
  return s.compute;
}

cudaStream_t copy_stream(int device) {
  DeviceState& s = state(device);
  create_streams(s);
  return s.copy;
}

CachingAllocator& allocator(int device) { return state(device).alloc; }

cublasHandle_t cublas_handle(int device) {
  DeviceState& s = state(device);
  std::call_once(s.cublas_once, [&] {
    DeviceGuard g(device);
    cudaStream_t st = compute_stream(device);
    s.cublas_ws = s.alloc.allocate(kCublasWorkspace, st);
    cublasHandle_t h = nullptr;
    ENGINE_CUBLAS_CHECK(cublasCreate(&h));
    ENGINE_CUBLAS_CHECK(cublasSetStream(h, st));
    ENGINE_CUBLAS_CHECK(cublasSetWorkspace(h, s.cublas_ws, kCublasWorkspace));
    s.cublas = h;
  });
  return s.cublas;
}

cudnnHandle_t cudnn_handle(int device) {
  DeviceState& s = state(device);
  std::call_once(s.cudnn_once, [&] {
    DeviceGuard g(device);
    cudnnHandle_t h = nullptr;
    ENGINE_CUDNN_CHECK(cudnnCreate(&h));
    ENGINE_CUDNN_CHECK(cudnnSetStream(h, compute_stream(device)));
    s.cudnn = h;
  });
  return s.cudnn;
}

void* workspace(int device, size_t nbytes) {
  DeviceState& s = state(device);
  std::lock_guard<std::mutex> lock(s.ws_mu);
  if (nbytes > s.ws_bytes) {
    cudaStream_t st = compute_stream(device);
    // Stream-ordered: work already queued on the old buffer finishes before any reuse.
    // A captured CUDA graph keeps the old address for good, so while graphs exist the
    // old buffer is kept rather than freed.
    if (s.alloc.has_private_pools()) {
      if (s.ws) s.retired_ws.push_back(s.ws);
    } else {
      s.alloc.free(s.ws);
    }
    s.ws = nullptr;
    s.ws_bytes = 0;
    size_t n = (nbytes + kWorkspaceRound - 1) / kWorkspaceRound * kWorkspaceRound;
    s.ws = s.alloc.allocate(n, st);
    s.ws_bytes = n;
  }
  return s.ws;
}

kernels::CudaIndexError* index_error_record(int device) {
  DeviceState& s = state(device);
  std::call_once(s.err_once, [&] {
    DeviceGuard g(device);
    void* p = nullptr;
    ENGINE_CUDA_CHECK(cudaHostAlloc(&p, sizeof(kernels::CudaIndexError), cudaHostAllocMapped));
    std::memset(p, 0, sizeof(kernels::CudaIndexError));
    void* dev_p = nullptr;
    ENGINE_CUDA_CHECK(cudaHostGetDevicePointer(&dev_p, p, 0));
    ENGINE_CHECK(dev_p == p, "cuda:" << device
                                     << " does not map host memory at the host address (no unified "
                                        "addressing); this engine needs a 64-bit platform with UVA");
    s.err = static_cast<kernels::CudaIndexError*>(p);
  });
  return s.err;
}

void check_index_errors(int device) {
  DeviceState& s = state(device);
  if (s.err == nullptr) return;
  volatile kernels::CudaIndexError* e = s.err;
  if (e->flag == 0) return;
  long long value = e->value, bound = e->bound;
  e->flag = 0;
  const char* op = kernels::cuda_current_op();
  ENGINE_THROW("an index kernel on cuda:"
               << device << (op[0] ? " (op " : "") << op << (op[0] ? ")" : "") << " met index " << value
               << ", out of range [0, " << bound << "); the affected outputs are wrong"
               << (kernels::cuda_sync_debug() ? "" : " (rerun with ENGINE_CUDA_SYNC=1 to name the op that met it)"));
}

bool capturing(int device) {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  ENGINE_CUDA_CHECK(cudaStreamIsCapturing(compute_stream(device), &st));
  return st != cudaStreamCaptureStatusNone;
}

void synchronize(int device) {
  DeviceState& s = state(device);
  create_streams(s);
  DeviceGuard g(device);
  ENGINE_CUDA_CHECK(cudaStreamSynchronize(s.copy));
  ENGINE_CUDA_CHECK(cudaStreamSynchronize(s.compute));
  check_index_errors(device);
}

bool tf32_enabled() { return g_tf32.load(); }
void set_tf32(bool on) { g_tf32.store(on); }

}  // namespace engine::runtime::cuda

namespace engine::runtime {
namespace {
void require_cuda() { ENGINE_CHECK(cuda_available(), "CUDA is unavailable: " << cuda_unavailable_reason()); }
}  // namespace

CudaMemoryStats cuda_memory_stats(int device) {
  require_cuda();
  return cuda::allocator(device).stats();
}

void cuda_reset_peak_memory(int device) {
  require_cuda();
  cuda::allocator(device).reset_peak();
}

void cuda_empty_cache(int device) {
  require_cuda();
  cuda::allocator(device).empty_cache();
}

void cuda_set_poison_allocations(bool on) {
  if (!cuda_available()) return;
  for (int d = 0; d < cuda::device_count(); ++d) cuda::allocator(d).set_poison(on);
}

bool cuda_tf32_enabled() { return cuda::tf32_enabled(); }
void cuda_set_tf32(bool on) { cuda::set_tf32(on); }

CudaDeviceInfo cuda_device_info(int device) {
  require_cuda();
  const cudaDeviceProp& p = cuda::device_properties(device);
  CudaDeviceInfo info;
  info.name = p.name;
  info.major = p.major;
  info.minor = p.minor;
  info.sm_count = p.multiProcessorCount;
  info.total_memory = p.totalGlobalMem;
  info.l2_cache_bytes = size_t(p.l2CacheSize);
  return info;
}

void* cuda_compute_stream(int device) {
  require_cuda();
  return cuda::compute_stream(device);
}

void* cuda_copy_stream(int device) {
  require_cuda();
  return cuda::copy_stream(device);
}

void cuda_synchronize(int device) {
  require_cuda();
  cuda::synchronize(device);
}

void cuda_copy_to_device_async(void* dst, const void* src, size_t nbytes, int device) {
  require_cuda();
  if (nbytes == 0) return;
  cuda::DeviceGuard g(device);
  cudaStream_t copy = cuda::copy_stream(device), compute = cuda::compute_stream(device);
  ENGINE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, copy));
  cudaEvent_t done = nullptr;
  ENGINE_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  ENGINE_CUDA_CHECK(cudaEventRecord(done, copy));
  ENGINE_CUDA_CHECK(cudaStreamWaitEvent(compute, done, 0));
  // Destroying a recorded event is safe: it is released once it completes.
  ENGINE_CUDA_CHECK(cudaEventDestroy(done));
}

CudaEventTimer::CudaEventTimer(int device) : device_(device) {
  require_cuda();
  cuda::DeviceGuard g(device);
  cudaEvent_t a = nullptr, b = nullptr;
  ENGINE_CUDA_CHECK(cudaEventCreate(&a));
  ENGINE_CUDA_CHECK(cudaEventCreate(&b));
  start_ = a;
  stop_ = b;
}

CudaEventTimer::~CudaEventTimer() {
  (void)cudaEventDestroy(static_cast<cudaEvent_t>(start_));
  (void)cudaEventDestroy(static_cast<cudaEvent_t>(stop_));
}

void CudaEventTimer::start() {
  cuda::DeviceGuard g(device_);
  ENGINE_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(start_), cuda::compute_stream(device_)));
}

float CudaEventTimer::stop_ms() {
  cuda::DeviceGuard g(device_);
  auto stop = static_cast<cudaEvent_t>(stop_);
  ENGINE_CUDA_CHECK(cudaEventRecord(stop, cuda::compute_stream(device_)));
  ENGINE_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  ENGINE_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start_), stop));
  return ms;
}

}  // namespace engine::runtime
