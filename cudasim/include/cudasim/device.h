#pragma once
// The device side of the simulator, force-included (g++ -include) before every .cu
// source of the ENGINE_CUDA=SIM build. The real CUDA headers supply the types
// (dim3, __half, cudaStream_t...) and expand __global__, __device__ and __shared__ to
// nothing in host C++; this header supplies what host mode leaves out: the built-in
// index variables, barriers, warp shuffles, atomics, bit casts, device min/max, the
// launch entry point and shared memory. Every simulated thread is a fiber (see
// cudasim/src/exec.cpp); the values below are read from the running fiber's context.
#include <cuda_runtime.h>
#include <math.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#define __CUDASIM__ 1

namespace cudasim {

// The running simulated thread (set by the scheduler before it enters a thread).
struct ThreadCtx {
  uint3 tid;
  int linear;  // threadIdx flattened, x fastest
};
struct BlockCtx {
  uint3 bid;
  dim3 bdim, gdim;
};

}  // namespace cudasim

// Plain TLS (no dynamic initialisation, so no wrapper call on every access).
extern __thread cudasim::ThreadCtx* cudasim_thread;
extern __thread cudasim::BlockCtx* cudasim_block;

#define threadIdx (static_cast<const uint3&>(cudasim_thread->tid))
#define blockIdx (static_cast<const uint3&>(cudasim_block->bid))
#define blockDim (static_cast<const dim3&>(cudasim_block->bdim))
#define gridDim (static_cast<const dim3&>(cudasim_block->gdim))
static constexpr int warpSize = 32;

namespace cudasim {

// Synchronisation points: each parks the calling fiber until its peers arrive.
void syncthreads(const char* file, int line);
void syncwarp(unsigned mask, const char* file, int line);
enum class ShflKind { idx, xor_, down, up };
uint64_t shfl(ShflKind kind, unsigned mask, uint64_t bits, int arg, int width, const char* file, int line);
inline void syncwarp_at(const char* file, int line, unsigned mask = 0xffffffffu) { syncwarp(mask, file, line); }
unsigned ballot(unsigned mask, bool pred, const char* file, int line);

template <class T>
T shfl_typed(const char* file, int line, ShflKind kind, unsigned mask, T v, int arg, int width = 32) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "cudasim: shuffles move at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = shfl(kind, mask, bits, arg, width, file, line);
  T r;
  std::memcpy(&r, &bits, sizeof(T));
  return r;
}

// Shared memory: one arena per block, filled with 0xFF at each block start. A static
// __shared__ declaration owns a slot, placed in the arena the first time a launch
// reaches it; every thread of every block of that launch then sees the same offset.
struct SharedSlot {
  uint64_t launch;
  uint32_t offset;
};
void* shared_slot(SharedSlot& slot, size_t bytes, size_t align);
void* dynamic_shared();

// Host pointer, device pointer: a name for reports.
[[noreturn]] void device_trap(const char* what, const char* file, int line);

}  // namespace cudasim

#define __syncthreads() ::cudasim::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::cudasim::syncwarp_at(__FILE__, __LINE__, ##__VA_ARGS__)
#define __shfl_sync(mask, v, lane, ...) \
  ::cudasim::shfl_typed(__FILE__, __LINE__, ::cudasim::ShflKind::idx, (mask), (v), (lane), ##__VA_ARGS__)
#define __shfl_xor_sync(mask, v, m, ...) \
  ::cudasim::shfl_typed(__FILE__, __LINE__, ::cudasim::ShflKind::xor_, (mask), (v), (m), ##__VA_ARGS__)
#define __shfl_down_sync(mask, v, d, ...) \
  ::cudasim::shfl_typed(__FILE__, __LINE__, ::cudasim::ShflKind::down, (mask), (v), (d), ##__VA_ARGS__)
#define __shfl_up_sync(mask, v, d, ...) \
  ::cudasim::shfl_typed(__FILE__, __LINE__, ::cudasim::ShflKind::up, (mask), (v), (d), ##__VA_ARGS__)
#define __ballot_sync(mask, pred) ::cudasim::ballot((mask), bool(pred), __FILE__, __LINE__)
#define __any_sync(mask, pred) (::cudasim::ballot((mask), bool(pred), __FILE__, __LINE__) != 0u)
#define __all_sync(mask, pred) (::cudasim::ballot((mask), bool(pred), __FILE__, __LINE__) == (mask))
#define __trap() ::cudasim::device_trap("__trap()", __FILE__, __LINE__)

// Atomics. A launch runs on one host thread and a simulated thread is never
// interrupted between two synchronisation points, so a plain read-modify-write is atomic.
template <class T>
inline T cudasim_atomic_add(T* p, T v) {
  T old = *p;
  *p = T(old + v);
  return old;
}
inline float atomicAdd(float* p, float v) { return cudasim_atomic_add(p, v); }
inline double atomicAdd(double* p, double v) { return cudasim_atomic_add(p, v); }
inline int atomicAdd(int* p, int v) { return cudasim_atomic_add(p, v); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return cudasim_atomic_add(p, v); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { return cudasim_atomic_add(p, v); }
template <class T>
inline T atomicMax(T* p, T v) {
  T old = *p;
  if (v > old) *p = v;
  return old;
}
template <class T>
inline T atomicMin(T* p, T v) {
  T old = *p;
  if (v < old) *p = v;
  return old;
}
template <class T>
inline T atomicExch(T* p, T v) {
  T old = *p;
  *p = v;
  return old;
}
template <class T>
inline T atomicCAS(T* p, T cmp, T v) {
  T old = *p;
  if (old == cmp) *p = v;
  return old;
}
inline void __threadfence() {}
inline void __threadfence_block() {}

// Bit casts and correctly rounded double arithmetic (the host's IEEE operations are
// round-to-nearest; -ffp-contract=off in this build keeps them separate).
inline float __int_as_float(int v) {
  float f;
  std::memcpy(&f, &v, 4);
  return f;
}
inline int __float_as_int(float f) {
  int v;
  std::memcpy(&v, &f, 4);
  return v;
}
inline float __uint_as_float(unsigned v) {
  float f;
  std::memcpy(&f, &v, 4);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned v;
  std::memcpy(&v, &f, 4);
  return v;
}
inline double __longlong_as_double(long long v) {
  double d;
  std::memcpy(&d, &v, 8);
  return d;
}
inline long long __double_as_longlong(double d) {
  long long v;
  std::memcpy(&v, &d, 8);
  return v;
}
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
inline int __ffs(int v) { return __builtin_ffs(v); }
inline int __clz(int v) { return v == 0 ? 32 : __builtin_clz(unsigned(v)); }
template <class T>
inline T __ldg(const T* p) {
  return *p;
}

// Device min/max accept mixed integer types as CUDA's overloads do.
template <class A, class B>
inline constexpr std::common_type_t<A, B> min(A a, B b) {
  return b < a ? std::common_type_t<A, B>(b) : std::common_type_t<A, B>(a);
}
template <class A, class B>
inline constexpr std::common_type_t<A, B> max(A a, B b) {
  return a < b ? std::common_type_t<A, B>(b) : std::common_type_t<A, B>(a);
}

// cudaFuncSetAttribute on a kernel: the template form lives in the device-only part of
// cuda_runtime.h.
template <class T>
inline cudaError_t cudaFuncSetAttribute(T* entry, cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(entry), attr, value);
}

namespace cudasim {

// Kernel launches: ENGINE_LAUNCH(grid, block, smem, stream, kernel)(args...) becomes
// launch(grid, block, smem, stream, "kernel", &kernel)(args...). The arguments are
// converted once to the kernel's parameter types and kept by value, as
// cudaLaunchKernel copies them; pointer arguments are checked against live device
// allocations when the kernel runs.
struct LaunchConfig {
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  const char* name;
  const char* file;
  int line;
  const void* func;
};

// Type-erased kernel body: runs one simulated thread with the stored arguments.
class KernelBody {
 public:
  virtual ~KernelBody() = default;
  virtual void run_thread() = 0;
  // Pointer arguments, for the launch's memory checks.
  virtual void pointer_args(std::vector<std::pair<int, const void*>>& out) const = 0;
};

// Validates the configuration (errors reported through cudaGetLastError) and enqueues
// the kernel on the stream (executed at once, or recorded while capturing).
void launch_kernel(const LaunchConfig& cfg, std::shared_ptr<KernelBody> body);

template <class... P>
class KernelBodyOf final : public KernelBody {
 public:
  template <class... A>
  KernelBodyOf(void (*fn)(P...), A&&... a) : fn_(fn), args_(std::forward<A>(a)...) {}
  void run_thread() override { std::apply(fn_, args_); }
  void pointer_args(std::vector<std::pair<int, const void*>>& out) const override {
    collect(out, std::index_sequence_for<P...>{});
  }

 private:
  template <size_t... I>
  void collect(std::vector<std::pair<int, const void*>>& out, std::index_sequence<I...>) const {
    (add_pointer(out, int(I), std::get<I>(args_)), ...);
  }
  template <class T>
  static void add_pointer(std::vector<std::pair<int, const void*>>& out, int i, const T& v) {
    if constexpr (std::is_pointer<T>::value && !std::is_function<std::remove_pointer_t<T>>::value)
      if (v != nullptr) out.emplace_back(i, static_cast<const void*>(v));
  }
  void (*fn_)(P...);
  std::tuple<std::decay_t<P>...> args_;
};

template <class... P>
class Launch {
 public:
  Launch(dim3 grid, dim3 block, size_t smem, cudaStream_t stream, const char* name, const char* file, int line,
         void (*fn)(P...))
      : cfg_{grid, block, smem, stream, name, file, line, reinterpret_cast<const void*>(fn)}, fn_(fn) {}
  template <class... A>
  void operator()(A&&... a) const {
    static_assert(sizeof...(A) == sizeof...(P), "cudasim: wrong number of kernel arguments");
    launch_kernel(cfg_, std::make_shared<KernelBodyOf<P...>>(fn_, static_cast<std::decay_t<P>>(std::forward<A>(a))...));
  }

 private:
  LaunchConfig cfg_;
  void (*fn_)(P...);
};

template <class... P>
Launch<P...> launch(dim3 grid, dim3 block, size_t smem, cudaStream_t stream, const char* name, const char* file,
                    int line, void (*fn)(P...)) {
  return Launch<P...>(grid, block, smem, stream, name, file, line, fn);
}

}  // namespace cudasim
