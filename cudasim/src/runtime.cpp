// The simulated CUDA runtime: one device whose memory is host memory, streams that run
// their work at once and in issue order, events, pinned memory, graph capture and
// replay, and the error model of the real runtime (a per-thread last error; faults in
// device work are sticky until cudaDeviceReset). Every call checks its arguments as
// the real runtime does or more strictly, and names what was wrong in a report.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "cudasim/cudasim.h"
#include "exec.h"
#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

struct CUgraph_st {
  std::vector<std::pair<std::string, std::function<void()>>> nodes;
};
struct CUgraphExec_st {
  std::vector<std::pair<std::string, std::function<void()>>> nodes;
};

namespace cudasim {
namespace {

struct Capture;

struct Stream {
  unsigned flags = 0;
  Capture* cap = nullptr;
  uint64_t work_seq = 0;  // work items enqueued (for capture joins)
};

struct Capture {
  cudaGraph_t graph = nullptr;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  std::thread::id thread;
  cudaStream_t origin = nullptr;
  bool invalidated = false;
  std::string why;
  std::set<cudaStream_t> joined;    // streams pulled in by cudaStreamWaitEvent
  std::set<cudaStream_t> unjoined;  // joined streams with work the origin has not waited for
};

struct Event {
  unsigned flags = 0;
  bool recorded = false;
  std::chrono::steady_clock::time_point time;
  Capture* cap = nullptr;  // recorded inside this capture
  cudaStream_t stream = nullptr;
  uint64_t seq = 0;
};

struct Alloc {
  size_t size;
  MemKind kind;
};

std::mutex g_mu;  // guards everything below
std::map<uintptr_t, Alloc> g_allocs;
std::deque<std::pair<uintptr_t, size_t>> g_freed;  // recently freed device ranges, for reports
std::map<cudaStream_t, Stream*> g_streams;
std::set<cudaEvent_t> g_events;
std::set<Capture*> g_captures;
size_t g_device_bytes = 0;
std::atomic<int> g_sticky{cudaSuccess};
std::string g_sticky_msg;
std::string g_last_report;
std::recursive_mutex g_device_mu;  // one piece of device work at a time

thread_local cudaError_t t_last_error = cudaSuccess;
thread_local cudaStreamCaptureMode t_capture_mode = cudaStreamCaptureModeGlobal;
thread_local int t_device = 0;

size_t device_memory_limit() {
  static const size_t limit = [] {
    size_t gib = 8;
    if (const char* v = std::getenv("ENGINE_CUDASIM_MEMORY_GIB")) gib = size_t(std::max(1L, std::atol(v)));
    return gib << 30;
  }();
  return limit;
}

bool quiet() {
  static const bool q = [] {
    const char* v = std::getenv("ENGINE_CUDASIM_QUIET");
    return v && v[0] && std::strcmp(v, "0") != 0;
  }();
  return q;
}

void banner() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (quiet()) return;
    std::fprintf(stderr,
                 "cudasim: cuda:0 is a SIMULATED GPU (ENGINE_CUDA=SIM build): kernels, cuBLAS, cuDNN and CUB run as "
                 "checked reference code on the CPU (thread order %s); results are checked, speed is not a GPU's\n",
                 schedule_name(schedule()));
  });
}

cudaError_t fail(cudaError_t code, const std::string& msg) {
  report(msg);
  t_last_error = code;
  return code;
}

cudaError_t ok() { return cudaSuccess; }

#define CUDASIM_STICKY()                                                       \
  do {                                                                         \
    int s_ = g_sticky.load();                                                  \
    if (s_ != cudaSuccess) return cudaError_t(t_last_error = cudaError_t(s_)); \
  } while (0)

bool is_default_stream(cudaStream_t s) { return s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread; }

std::string ptr_str(const void* p) {
  std::ostringstream o;
  o << p;
  return o.str();
}

// Caller holds g_mu.
const std::pair<const uintptr_t, Alloc>* lookup(const void* p, bool inclusive_end) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = g_allocs.upper_bound(a);
  if (it == g_allocs.begin()) return nullptr;
  --it;
  uintptr_t end = it->first + it->second.size;
  if (a < end || (inclusive_end && a == end)) return &*it;
  return nullptr;
}

std::string explain(const void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(g_mu);
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (auto* hit = lookup(p, false)) {
    std::ostringstream o;
    o << "[" << p << ", +" << bytes << ") runs " << (a + bytes - (hit->first + hit->second.size))
      << " bytes past the end of the " << hit->second.size << "-byte "
      << (hit->second.kind == MemKind::device ? "device" : "pinned host") << " allocation at "
      << ptr_str(reinterpret_cast<void*>(hit->first));
    return o.str();
  }
  for (auto it = g_freed.rbegin(); it != g_freed.rend(); ++it)
    if (a >= it->first && a < it->first + it->second)
      return ptr_str(p) + " lies in a device allocation that was freed (cudaFree)";
  auto it = g_allocs.upper_bound(a);
  if (it != g_allocs.begin()) {
    --it;
    uintptr_t end = it->first + it->second.size;
    if (a >= end && a - end < 4096) {
      std::ostringstream o;
      o << ptr_str(p) << " lies " << (a - end) << " bytes past the end of the " << it->second.size
        << "-byte allocation at " << ptr_str(reinterpret_cast<void*>(it->first));
      return o.str();
    }
  }
  return ptr_str(p) +
         " is not in any live device or pinned allocation (a pageable host pointer, or a stale one): a real GPU "
         "faults on it";
}

Stream* stream_of(cudaStream_t s) {
  auto it = g_streams.find(s);
  return it == g_streams.end() ? nullptr : it->second;
}

// Potentially unsafe calls during a capture (cudaMalloc, synchronous copies,
// synchronisation): the real runtime's cudaStreamCaptureMode rules. Returns the
// capture the call breaks (invalidated here), or nullptr when the call may proceed.
Capture* prohibited_by_capture(const char* call) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (t_capture_mode == cudaStreamCaptureModeRelaxed) return nullptr;
  for (Capture* c : g_captures) {
    bool local = c->thread == std::this_thread::get_id() && c->mode != cudaStreamCaptureModeRelaxed;
    bool global = c->thread != std::this_thread::get_id() && c->mode == cudaStreamCaptureModeGlobal &&
                  t_capture_mode == cudaStreamCaptureModeGlobal;
    if (local || global) {
      c->invalidated = true;
      c->why = std::string(call) + " during the capture";
      return c;
    }
  }
  return nullptr;
}

cudaError_t unsafe_call(const char* call) {
  if (prohibited_by_capture(call))
    return fail(cudaErrorStreamCaptureUnsupported,
                std::string(call) + " is not permitted while a stream of this thread is being captured (capture mode " +
                    "global/thread-local); the capture is invalidated");
  return cudaSuccess;
}

cudaError_t check_stream(cudaStream_t s, const char* call) {
  if (is_default_stream(s)) return cudaSuccess;
  std::lock_guard<std::mutex> lock(g_mu);
  if (!stream_of(s)) {
    report(std::string(call) + ": stream " + ptr_str(s) + " is not a live stream (destroyed, or never created)");
    return cudaErrorInvalidResourceHandle;
  }
  return cudaSuccess;
}

}  // namespace

// ---- internal API ------------------------------------------------------------------

const std::string& report(const std::string& msg) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_last_report = msg;
  }
  if (!quiet()) std::fprintf(stderr, "cudasim: %s\n", msg.c_str());
  return msg;
}

void fail_sticky(cudaError_t code, const std::string& msg) {
  report(msg);
  std::lock_guard<std::mutex> lock(g_mu);
  int expected = cudaSuccess;
  if (g_sticky.compare_exchange_strong(expected, code)) g_sticky_msg = msg;
  t_last_error = code;
}

void set_last_error(cudaError_t code) { t_last_error = code; }

std::string last_report() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_last_report;
}
void clear_report() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_last_report.clear();
}

MemRange find_allocation(const void* p) {
  std::lock_guard<std::mutex> lock(g_mu);
  MemRange r;
  if (auto* hit = lookup(p, true)) {
    r.kind = hit->second.kind;
    r.base = reinterpret_cast<const char*>(hit->first);
    r.size = hit->second.size;
  }
  return r;
}

bool device_accessible(const void* p, size_t bytes, std::string* why) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto* hit = lookup(p, bytes == 0);
    if (hit && reinterpret_cast<uintptr_t>(p) + bytes <= hit->first + hit->second.size) return true;
  }
  if (why) *why = explain(p, bytes);
  return false;
}

cudaError_t enqueue(cudaStream_t stream, const char* what, std::function<void()> work) {
  CUDASIM_STICKY();
  {
    std::unique_lock<std::mutex> lock(g_mu);
    if (!is_default_stream(stream) && !stream_of(stream)) {
      lock.unlock();
      return fail(cudaErrorInvalidResourceHandle,
                  std::string(what) + ": stream " + ptr_str(stream) + " is not a live stream");
    }
    Stream* s = stream_of(stream);
    if (s && s->cap) {
      Capture* c = s->cap;
      if (c->invalidated) return t_last_error = cudaErrorStreamCaptureInvalidated;
      ++s->work_seq;
      if (stream != c->origin) c->unjoined.insert(stream);
      c->graph->nodes.emplace_back(what, std::move(work));
      return cudaSuccess;
    }
    if (is_default_stream(stream) && !g_captures.empty()) {
      for (Capture* c : g_captures)
        if (c->mode != cudaStreamCaptureModeRelaxed) {
          c->invalidated = true;
          c->why = std::string(what) + " on the legacy default stream during the capture";
        }
      lock.unlock();
      return fail(cudaErrorStreamCaptureImplicit,
                  std::string(what) + ": work on the default stream while another stream is being captured");
    }
    if (s) ++s->work_seq;
  }
  std::lock_guard<std::recursive_mutex> dev(g_device_mu);
  work();
  return g_sticky.load() != cudaSuccess ? cudaError_t(g_sticky.load()) : cudaSuccess;
}

Stats stats();

}  // namespace cudasim

using namespace cudasim;

extern "C" {

// ---- errors ------------------------------------------------------------------------

cudaError_t cudaGetLastError(void) {
  cudaError_t e = t_last_error;
  int s = g_sticky.load();
  if (s != cudaSuccess) return cudaError_t(s);
  t_last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError(void) {
  int s = g_sticky.load();
  return s != cudaSuccess ? cudaError_t(s) : t_last_error;
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
#define N(x) \
  case x: return #x;
    N(cudaSuccess)
    N(cudaErrorInvalidValue) N(cudaErrorMemoryAllocation) N(cudaErrorInitializationError)
        N(cudaErrorInvalidConfiguration) N(cudaErrorInvalidDevice) N(cudaErrorInvalidResourceHandle)
            N(cudaErrorNotReady) N(cudaErrorIllegalAddress) N(cudaErrorLaunchFailure) N(cudaErrorNoDevice)
                N(cudaErrorStreamCaptureUnsupported) N(cudaErrorStreamCaptureInvalidated) N(cudaErrorStreamCaptureMerge)
                    N(cudaErrorStreamCaptureUnmatched) N(cudaErrorStreamCaptureUnjoined)
                        N(cudaErrorStreamCaptureIsolation) N(cudaErrorStreamCaptureImplicit)
                            N(cudaErrorStreamCaptureWrongThread) N(cudaErrorCapturedEvent) N(cudaErrorIllegalState)
                                N(cudaErrorInvalidDevicePointer) N(cudaErrorInvalidMemcpyDirection)
                                    N(cudaErrorHostMemoryNotRegistered) N(cudaErrorLaunchOutOfResources)
                                        N(cudaErrorNotSupported)
#undef N
                                            default : return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureUnmatched: return "capture was not initiated in this stream";
    case cudaErrorStreamCaptureUnjoined: return "capturing stream has unjoined work";
    case cudaErrorStreamCaptureImplicit:
      return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorStreamCaptureWrongThread:
      return "attempt to terminate a thread-local capture sequence from another thread";
    case cudaErrorCapturedEvent: return "operation not permitted on an event last recorded in a capturing stream";
    case cudaErrorIllegalState: return "the operation is not permitted in the current state";
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure: {
      // A sticky fault: the generic text, then what the simulator saw.
      static thread_local std::string s;
      std::lock_guard<std::mutex> lock(g_mu);
      s = std::string(e == cudaErrorIllegalAddress ? "an illegal memory access was encountered"
                                                   : "unspecified launch failure");
      if (!g_sticky_msg.empty()) s += " (cudasim: " + g_sticky_msg + ")";
      return s.c_str();
    }
    default: return cudaGetErrorName(e);
  }
}

// ---- device ------------------------------------------------------------------------

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return fail(cudaErrorInvalidValue, "cudaGetDeviceCount: count is null");
  // ENGINE_CUDASIM_DEVICES=0 simulates a machine without a GPU, for the tests of that path.
  const char* v = std::getenv("ENGINE_CUDASIM_DEVICES");
  if (v && std::strcmp(v, "0") == 0) {
    *count = 0;
    t_last_error = cudaErrorNoDevice;
    return cudaErrorNoDevice;
  }
  banner();
  *count = 1;
  return ok();
}

cudaError_t cudaGetDevice(int* device) {
  if (!device) return fail(cudaErrorInvalidValue, "cudaGetDevice: device is null");
  *device = t_device;
  return ok();
}

cudaError_t cudaSetDevice(int device) {
  if (device != 0)
    return fail(cudaErrorInvalidDevice,
                "cudaSetDevice(" + std::to_string(device) + "): the simulator has one device, 0");
  banner();
  t_device = device;
  return ok();
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (!p) return fail(cudaErrorInvalidValue, "cudaGetDeviceProperties: prop is null");
  if (device != 0) return fail(cudaErrorInvalidDevice, "cudaGetDeviceProperties: no device " + std::to_string(device));
  std::memset(p, 0, sizeof(*p));
  std::snprintf(p->name, sizeof(p->name), "cudasim simulated GPU (H100-class limits)");
  p->totalGlobalMem = device_memory_limit();
  p->sharedMemPerBlock = 48 << 10;
  p->sharedMemPerBlockOptin = 227 << 10;
  p->sharedMemPerMultiprocessor = 228 << 10;
  p->regsPerBlock = 65536;
  p->regsPerMultiprocessor = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->totalConstMem = 64 << 10;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 132;
  p->maxThreadsPerMultiProcessor = 2048;
  p->l2CacheSize = 50 << 20;
  p->unifiedAddressing = 1;
  p->canMapHostMemory = 1;
  p->concurrentKernels = 1;
  p->asyncEngineCount = 2;
  p->memoryBusWidth = 5120;
  return ok();
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: value is null");
  if (device != 0) return fail(cudaErrorInvalidDevice, "cudaDeviceGetAttribute: no device " + std::to_string(device));
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = 132; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = 227 << 10; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 << 10; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxGridDimX: *value = 2147483647; break;
    case cudaDevAttrMaxGridDimY:
    case cudaDevAttrMaxGridDimZ: *value = 65535; break;
    case cudaDevAttrMaxBlockDimX:
    case cudaDevAttrMaxBlockDimY: *value = 1024; break;
    case cudaDevAttrMaxBlockDimZ: *value = 64; break;
    case cudaDevAttrL2CacheSize: *value = 50 << 20; break;
    case cudaDevAttrMaxRegistersPerBlock: *value = 65536; break;
    case cudaDevAttrUnifiedAddressing: *value = 1; break;
    default:
      return fail(cudaErrorInvalidValue,
                  "cudaDeviceGetAttribute: attribute " + std::to_string(int(attr)) + " is not simulated");
  }
  return ok();
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  CUDASIM_STICKY();
  if (!func) return fail(cudaErrorInvalidDeviceFunction, "cudaFuncSetAttribute: func is null");
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || value > (227 << 10))
      return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: MaxDynamicSharedMemorySize " + std::to_string(value) +
                                             " is outside [0, 232448]");
    set_max_dynamic_shared(func, value);
  }
  return ok();
}

cudaError_t cudaDeviceSynchronize(void) {
  CUDASIM_STICKY();
  if (cudaError_t e = unsafe_call("cudaDeviceSynchronize")) return e;
  return ok();
}

cudaError_t cudaDeviceReset(void) {
  std::lock_guard<std::mutex> lock(g_mu);
  for (auto& [a, al] : g_allocs) std::free(reinterpret_cast<void*>(a));
  g_allocs.clear();
  g_freed.clear();
  g_device_bytes = 0;
  for (Capture* c : g_captures) delete c;
  g_captures.clear();
  for (auto& [h, s] : g_streams) {
    (void)h;
    s->cap = nullptr;
  }
  g_sticky = cudaSuccess;
  g_sticky_msg.clear();
  t_last_error = cudaSuccess;
  return cudaSuccess;
}

// ---- memory ------------------------------------------------------------------------

cudaError_t cudaMalloc(void** p, size_t size) {
  CUDASIM_STICKY();
  if (!p) return fail(cudaErrorInvalidValue, "cudaMalloc: devPtr is null");
  if (cudaError_t e = unsafe_call("cudaMalloc")) return e;
  *p = nullptr;
  if (size == 0) return ok();
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_device_bytes + size > device_memory_limit()) {
      t_last_error = cudaErrorMemoryAllocation;
      return cudaErrorMemoryAllocation;
    }
    g_device_bytes += size;
  }
  void* mem = nullptr;
  if (posix_memalign(&mem, 256, size) != 0) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_device_bytes -= size;
    t_last_error = cudaErrorMemoryAllocation;
    return cudaErrorMemoryAllocation;
  }
  std::memset(mem, 0xFF, size);  // device memory starts as garbage: NaN in every float type
  std::lock_guard<std::mutex> lock(g_mu);
  g_allocs[reinterpret_cast<uintptr_t>(mem)] = Alloc{size, MemKind::device};
  *p = mem;
  return ok();
}

cudaError_t cudaFree(void* p) {
  CUDASIM_STICKY();
  if (!p) return ok();
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_allocs.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_allocs.end() || it->second.kind != MemKind::device) {
    g_last_report = "cudaFree(" + ptr_str(p) + "): not the start of a live device allocation";
    if (!quiet()) std::fprintf(stderr, "cudasim: %s\n", g_last_report.c_str());
    return t_last_error = cudaErrorInvalidValue;
  }
  g_device_bytes -= it->second.size;
  g_freed.emplace_back(it->first, it->second.size);
  if (g_freed.size() > 4096) g_freed.pop_front();
  std::free(p);
  g_allocs.erase(it);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_b, size_t* total_b) {
  CUDASIM_STICKY();
  if (!free_b || !total_b) return fail(cudaErrorInvalidValue, "cudaMemGetInfo: null argument");
  std::lock_guard<std::mutex> lock(g_mu);
  *total_b = device_memory_limit();
  *free_b = device_memory_limit() - g_device_bytes;
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** p, size_t size, unsigned int flags) {
  CUDASIM_STICKY();
  if (!p) return fail(cudaErrorInvalidValue, "cudaHostAlloc: pHost is null");
  if (flags & ~unsigned(cudaHostAllocPortable | cudaHostAllocMapped | cudaHostAllocWriteCombined))
    return fail(cudaErrorInvalidValue, "cudaHostAlloc: unknown flags " + std::to_string(flags));
  if (cudaError_t e = unsafe_call("cudaHostAlloc")) return e;
  *p = nullptr;
  if (size == 0) return ok();
  void* mem = nullptr;
  if (posix_memalign(&mem, 4096, size) != 0) return t_last_error = cudaErrorMemoryAllocation;
  std::lock_guard<std::mutex> lock(g_mu);
  g_allocs[reinterpret_cast<uintptr_t>(mem)] = Alloc{size, MemKind::pinned};
  *p = mem;
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** p, size_t size) { return cudaHostAlloc(p, size, cudaHostAllocDefault); }

cudaError_t cudaFreeHost(void* p) {
  CUDASIM_STICKY();
  if (!p) return ok();
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_allocs.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_allocs.end() || it->second.kind != MemKind::pinned) {
    g_last_report = "cudaFreeHost(" + ptr_str(p) + "): not the start of a live pinned allocation";
    return t_last_error = cudaErrorInvalidValue;
  }
  std::free(p);
  g_allocs.erase(it);
  return cudaSuccess;
}

cudaError_t cudaHostGetDevicePointer(void** dev, void* host, unsigned int flags) {
  CUDASIM_STICKY();
  if (!dev || flags != 0) return fail(cudaErrorInvalidValue, "cudaHostGetDevicePointer: null pDevice or flags != 0");
  MemRange r = find_allocation(host);
  if (r.kind != MemKind::pinned)
    return fail(cudaErrorInvalidValue,
                "cudaHostGetDevicePointer(" + ptr_str(host) + "): not in memory from cudaHostAlloc");
  *dev = host;  // unified addressing: the device sees pinned memory at its host address
  return ok();
}

}  // extern "C"

namespace cudasim {
namespace {

// Checks a copy's pointers against its kind; "" when it is fine.
std::string copy_problem(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  MemRange d = find_allocation(dst), s = find_allocation(src);
  const bool dd = d.kind == MemKind::device, sd = s.kind == MemKind::device;
  auto range = [&](const void* p, const char* which) -> std::string {
    std::string why;
    if (!device_accessible(p, n, &why)) return std::string(which) + ": " + why;
    return "";
  };
  switch (kind) {
    case cudaMemcpyHostToDevice:
      if (sd) return "cudaMemcpyHostToDevice, but src " + ptr_str(src) + " is device memory";
      if (!dd) return "cudaMemcpyHostToDevice, but dst is not device memory: " + explain(dst, n);
      return range(dst, "dst");
    case cudaMemcpyDeviceToHost:
      if (dd) return "cudaMemcpyDeviceToHost, but dst " + ptr_str(dst) + " is device memory";
      if (!sd) return "cudaMemcpyDeviceToHost, but src is not device memory: " + explain(src, n);
      return range(src, "src");
    case cudaMemcpyDeviceToDevice:
      if (!dd || !sd)
        return "cudaMemcpyDeviceToDevice, but " + std::string(!dd ? "dst" : "src") +
               " is not device memory: " + explain(!dd ? dst : src, n);
      if (std::string r = range(dst, "dst"); !r.empty()) return r;
      return range(src, "src");
    case cudaMemcpyHostToHost:
      if (dd || sd) return "cudaMemcpyHostToHost, but an argument is device memory";
      return "";
    case cudaMemcpyDefault:
      if (dd || d.kind == MemKind::pinned)
        if (std::string r = range(dst, "dst"); !r.empty()) return r;
      if (sd || s.kind == MemKind::pinned)
        if (std::string r = range(src, "src"); !r.empty()) return r;
      return "";
  }
  return "unknown cudaMemcpyKind " + std::to_string(int(kind));
}

bool pageable(const void* p) { return find_allocation(p).kind == MemKind::unknown; }

Capture* capture_of(cudaStream_t s) {
  std::lock_guard<std::mutex> lock(g_mu);
  Stream* st = stream_of(s);
  return st ? st->cap : nullptr;
}

cudaError_t memcpy_impl(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t stream,
                        const char* call) {
  CUDASIM_STICKY();
  if (n == 0) return ok();
  if (!dst || !src) return fail(cudaErrorInvalidValue, std::string(call) + ": null pointer");
  if (std::string p = copy_problem(dst, src, n, kind); !p.empty())
    return fail(cudaErrorInvalidValue, std::string(call) + " of " + std::to_string(n) + " bytes: " + p);
  if (Capture* c = capture_of(stream)) {
    const bool host_side = (kind != cudaMemcpyDeviceToDevice) && (pageable(dst) || pageable(src));
    if (host_side) {
      {
        std::lock_guard<std::mutex> lock(g_mu);
        c->invalidated = true;
        c->why = std::string(call) + " with pageable host memory";
      }
      return fail(cudaErrorStreamCaptureUnsupported,
                  std::string(call) + ": a copy to or from pageable host memory cannot be captured into a graph");
    }
  }
  return enqueue(stream, call, [=] { std::memcpy(dst, src, n); });
}

cudaError_t memset_impl(void* p, int v, size_t pitch, size_t width, size_t height, cudaStream_t stream,
                        const char* call) {
  CUDASIM_STICKY();
  if (width == 0 || height == 0) return ok();
  if (pitch < width)
    return fail(cudaErrorInvalidValue,
                std::string(call) + ": pitch " + std::to_string(pitch) + " < width " + std::to_string(width));
  size_t span = pitch * (height - 1) + width;
  std::string why;
  if (find_allocation(p).kind != MemKind::device || !device_accessible(p, span, &why))
    return fail(cudaErrorInvalidValue, std::string(call) + " of " + std::to_string(span) + " bytes at " + ptr_str(p) +
                                           ": " + (why.empty() ? "not device memory" : why));
  return enqueue(stream, call, [=] {
    for (size_t r = 0; r < height; ++r) std::memset(static_cast<char*>(p) + r * pitch, v, width);
  });
}

}  // namespace
}  // namespace cudasim

extern "C" {

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  CUDASIM_STICKY();
  if (cudaError_t e = unsafe_call("cudaMemcpy")) return e;
  return memcpy_impl(dst, src, n, kind, nullptr, "cudaMemcpy");
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t s) {
  return memcpy_impl(dst, src, n, kind, s, "cudaMemcpyAsync");
}
cudaError_t cudaMemcpyPeer(void* dst, int dd, const void* src, int sd, size_t n) {
  if (dd != 0 || sd != 0) return fail(cudaErrorInvalidDevice, "cudaMemcpyPeer: the simulator has one device, 0");
  return cudaMemcpy(dst, src, n, cudaMemcpyDeviceToDevice);
}
cudaError_t cudaMemset(void* p, int v, size_t n) {
  CUDASIM_STICKY();
  if (cudaError_t e = unsafe_call("cudaMemset")) return e;
  return memset_impl(p, v, n, n, 1, nullptr, "cudaMemset");
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t s) {
  return memset_impl(p, v, n, n, 1, s, "cudaMemsetAsync");
}
cudaError_t cudaMemset2DAsync(void* p, size_t pitch, int v, size_t width, size_t height, cudaStream_t s) {
  return memset_impl(p, v, pitch, width, height, s, "cudaMemset2DAsync");
}

// ---- streams -----------------------------------------------------------------------

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) {
  CUDASIM_STICKY();
  if (!s) return fail(cudaErrorInvalidValue, "cudaStreamCreateWithFlags: pStream is null");
  if (flags & ~unsigned(cudaStreamNonBlocking))
    return fail(cudaErrorInvalidValue, "cudaStreamCreateWithFlags: unknown flags " + std::to_string(flags));
  banner();
  auto* st = new Stream();
  st->flags = flags;
  // The handle is an address no one dereferences: the Stream itself.
  cudaStream_t h = reinterpret_cast<cudaStream_t>(st);
  std::lock_guard<std::mutex> lock(g_mu);
  g_streams[h] = st;
  *s = h;
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t s) {
  CUDASIM_STICKY();
  std::lock_guard<std::mutex> lock(g_mu);
  Stream* st = stream_of(s);
  if (!st) return t_last_error = cudaErrorInvalidResourceHandle;
  if (st->cap) return t_last_error = cudaErrorStreamCaptureUnsupported;
  g_streams.erase(s);
  delete st;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  CUDASIM_STICKY();
  if (cudaError_t e = check_stream(s, "cudaStreamSynchronize")) return t_last_error = e;
  if (Capture* c = capture_of(s)) {
    {
      std::lock_guard<std::mutex> lock(g_mu);
      c->invalidated = true;
      c->why = "cudaStreamSynchronize on the capturing stream";
    }
    return fail(cudaErrorStreamCaptureUnsupported, "cudaStreamSynchronize on a stream that is being captured");
  }
  if (cudaError_t e = unsafe_call("cudaStreamSynchronize")) return e;
  return ok();
}

cudaError_t cudaStreamQuery(cudaStream_t s) {
  CUDASIM_STICKY();
  if (cudaError_t e = check_stream(s, "cudaStreamQuery")) return t_last_error = e;
  if (capture_of(s)) return fail(cudaErrorStreamCaptureUnsupported, "cudaStreamQuery on a capturing stream");
  return ok();
}

cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* status) {
  CUDASIM_STICKY();
  if (!status) return fail(cudaErrorInvalidValue, "cudaStreamIsCapturing: status is null");
  if (cudaError_t e = check_stream(s, "cudaStreamIsCapturing")) return t_last_error = e;
  std::lock_guard<std::mutex> lock(g_mu);
  Stream* st = stream_of(s);
  *status = !st || !st->cap
                ? cudaStreamCaptureStatusNone
                : (st->cap->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive);
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
  CUDASIM_STICKY();
  if (is_default_stream(s))
    return fail(cudaErrorStreamCaptureUnsupported,
                "cudaStreamBeginCapture: the legacy default stream cannot be captured");
  if (cudaError_t e = check_stream(s, "cudaStreamBeginCapture")) return t_last_error = e;
  std::lock_guard<std::mutex> lock(g_mu);
  Stream* st = stream_of(s);
  if (st->cap) {
    g_last_report = "cudaStreamBeginCapture: the stream is already being captured";
    return t_last_error = cudaErrorIllegalState;
  }
  auto* c = new Capture();
  c->graph = new CUgraph_st();
  c->mode = mode;
  c->thread = std::this_thread::get_id();
  c->origin = s;
  st->cap = c;
  g_captures.insert(c);
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph) {
  CUDASIM_STICKY();
  if (!graph) return fail(cudaErrorInvalidValue, "cudaStreamEndCapture: pGraph is null");
  if (cudaError_t e = check_stream(s, "cudaStreamEndCapture")) return t_last_error = e;
  std::unique_lock<std::mutex> lock(g_mu);
  Stream* st = stream_of(s);
  *graph = nullptr;
  if (!st || !st->cap) {
    g_last_report = "cudaStreamEndCapture: the stream is not being captured";
    return t_last_error = cudaErrorIllegalState;
  }
  Capture* c = st->cap;
  if (c->origin != s) {
    g_last_report = "cudaStreamEndCapture on a stream that joined the capture; end it on the stream that began it";
    return t_last_error = cudaErrorStreamCaptureUnmatched;
  }
  if (c->mode != cudaStreamCaptureModeRelaxed && c->thread != std::this_thread::get_id()) {
    g_last_report = "cudaStreamEndCapture from another thread than the one that began the capture";
    return t_last_error = cudaErrorStreamCaptureWrongThread;
  }
  // The capture ends whatever the outcome.
  st->cap = nullptr;
  for (cudaStream_t j : c->joined)
    if (Stream* js = stream_of(j)) js->cap = nullptr;
  g_captures.erase(c);
  cudaError_t result = cudaSuccess;
  std::string msg;
  if (c->invalidated) {
    result = cudaErrorStreamCaptureInvalidated;
    msg = "cudaStreamEndCapture: the capture was invalidated by " + c->why;
    delete c->graph;
  } else if (!c->unjoined.empty()) {
    result = cudaErrorStreamCaptureUnjoined;
    msg = "cudaStreamEndCapture: " + std::to_string(c->unjoined.size()) +
          " stream(s) joined the capture and have work the capturing stream never waited for";
    delete c->graph;
  } else {
    *graph = c->graph;
  }
  delete c;
  lock.unlock();
  if (result != cudaSuccess) return fail(result, msg);
  return cudaSuccess;
}

cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode* mode) {
  if (!mode) return fail(cudaErrorInvalidValue, "cudaThreadExchangeStreamCaptureMode: mode is null");
  std::swap(*mode, t_capture_mode);
  return cudaSuccess;
}

// ---- events ------------------------------------------------------------------------

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int flags) {
  CUDASIM_STICKY();
  if (!e) return fail(cudaErrorInvalidValue, "cudaEventCreate: event is null");
  if (flags & ~unsigned(cudaEventBlockingSync | cudaEventDisableTiming | cudaEventInterprocess))
    return fail(cudaErrorInvalidValue, "cudaEventCreateWithFlags: unknown flags " + std::to_string(flags));
  auto* ev = new Event();
  ev->flags = flags;
  cudaEvent_t h = reinterpret_cast<cudaEvent_t>(ev);
  std::lock_guard<std::mutex> lock(g_mu);
  g_events.insert(h);
  *e = h;
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }

cudaError_t cudaEventDestroy(cudaEvent_t e) {
  CUDASIM_STICKY();
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_events.count(e)) return t_last_error = cudaErrorInvalidResourceHandle;
  g_events.erase(e);
  delete reinterpret_cast<Event*>(e);
  return cudaSuccess;
}

}  // extern "C"

namespace cudasim {
namespace {
Event* event_of(cudaEvent_t e) { return g_events.count(e) ? reinterpret_cast<Event*>(e) : nullptr; }
}  // namespace
}  // namespace cudasim

extern "C" {

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  CUDASIM_STICKY();
  if (cudaError_t err = check_stream(s, "cudaEventRecord")) return t_last_error = err;
  std::lock_guard<std::mutex> lock(g_mu);
  Event* ev = event_of(e);
  if (!ev) return t_last_error = cudaErrorInvalidResourceHandle;
  Stream* st = stream_of(s);
  ev->stream = s;
  ev->seq = st ? st->work_seq : 0;
  if (st && st->cap) {
    ev->cap = st->cap;
    return cudaSuccess;
  }
  ev->cap = nullptr;
  ev->recorded = true;
  ev->time = std::chrono::steady_clock::now();
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags) {
  CUDASIM_STICKY();
  (void)flags;
  if (cudaError_t err = check_stream(s, "cudaStreamWaitEvent")) return t_last_error = err;
  std::lock_guard<std::mutex> lock(g_mu);
  Event* ev = event_of(e);
  if (!ev) return t_last_error = cudaErrorInvalidResourceHandle;
  Stream* st = stream_of(s);
  if (ev->cap && g_captures.count(ev->cap)) {
    Capture* c = ev->cap;
    if (!st) {
      g_last_report = "cudaStreamWaitEvent: the default stream waits on an event recorded in a capture";
      return t_last_error = cudaErrorStreamCaptureImplicit;
    }
    if (!st->cap) {  // the stream joins the capture
      st->cap = c;
      c->joined.insert(s);
    } else if (st->cap != c) {
      g_last_report = "cudaStreamWaitEvent joins two different captures";
      return t_last_error = cudaErrorStreamCaptureIsolation;
    }
    // Waiting for everything a joined stream did rejoins it.
    Stream* src = stream_of(ev->stream);
    if (ev->stream != c->origin && src && ev->seq == src->work_seq) c->unjoined.erase(ev->stream);
  }
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t e) {
  CUDASIM_STICKY();
  std::lock_guard<std::mutex> lock(g_mu);
  Event* ev = event_of(e);
  if (!ev) return t_last_error = cudaErrorInvalidResourceHandle;
  if (ev->cap) return t_last_error = cudaErrorCapturedEvent;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  CUDASIM_STICKY();
  {
    std::lock_guard<std::mutex> lock(g_mu);
    Event* ev = event_of(e);
    if (!ev) return t_last_error = cudaErrorInvalidResourceHandle;
    if (ev->cap) return t_last_error = cudaErrorCapturedEvent;
  }
  if (cudaError_t err = unsafe_call("cudaEventSynchronize")) return err;
  return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  CUDASIM_STICKY();
  if (!ms) return fail(cudaErrorInvalidValue, "cudaEventElapsedTime: ms is null");
  std::lock_guard<std::mutex> lock(g_mu);
  Event *ea = event_of(a), *eb = event_of(b);
  if (!ea || !eb) return t_last_error = cudaErrorInvalidResourceHandle;
  if ((ea->flags | eb->flags) & cudaEventDisableTiming) return t_last_error = cudaErrorInvalidResourceHandle;
  if (!ea->recorded || !eb->recorded) return t_last_error = cudaErrorInvalidResourceHandle;
  *ms = std::chrono::duration<float, std::milli>(eb->time - ea->time).count();
  return cudaSuccess;
}

// ---- graphs ------------------------------------------------------------------------

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags) {
  CUDASIM_STICKY();
  (void)flags;
  if (!exec || !graph) return fail(cudaErrorInvalidValue, "cudaGraphInstantiate: null argument");
  auto* x = new CUgraphExec_st();
  x->nodes = graph->nodes;
  *exec = x;
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
  CUDASIM_STICKY();
  if (!exec) return fail(cudaErrorInvalidValue, "cudaGraphLaunch: graphExec is null");
  CUgraphExec_st* x = exec;
  return enqueue(s, "cudaGraphLaunch", [x] {
    for (auto& node : x->nodes) {
      if (g_sticky.load() != cudaSuccess) return;
      node.second();
    }
  });
}

cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t x) {
  delete x;
  return cudaSuccess;
}

}  // extern "C"
