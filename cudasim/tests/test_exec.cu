// The simulator's execution model: results of correct kernels under every thread
// order, and each fault it exists to find (a missing barrier, a race, a divergent
// barrier, shuffles with wrong masks, a deadlock, launch limits, host pointers) is
// reported with the kernel's name and the thread.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "cudasim/cudasim.h"
#include "kernels/cuda/launch.cuh"
#include "sim_test.h"

namespace {

using cudasim::Schedule;

const Schedule kAll[] = {Schedule::forward, Schedule::reverse, Schedule::random, Schedule::run_ahead};

// Leaves the device clean for the next case (a fault is sticky, as on a GPU).
struct Fresh {
  Fresh() {
    cudaDeviceReset();
    cudasim::clear_report();
    cudasim::set_schedule(Schedule::forward, 1);
  }
  ~Fresh() {
    cudaDeviceReset();
    cudasim::set_schedule(Schedule::forward, 1);
  }
};

template <class T>
T* dev_alloc(size_t n) {
  void* p = nullptr;
  REQUIRE(cudaMalloc(&p, n * sizeof(T)) == cudaSuccess);
  return static_cast<T*>(p);
}
template <class T>
std::vector<T> to_host(const T* d, size_t n) {
  std::vector<T> h(n);
  REQUIRE(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
  return h;
}
template <class T>
T* to_dev(const std::vector<T>& h) {
  T* d = dev_alloc<T>(h.size());
  REQUIRE(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  return d;
}

using simtest::reported;

// ---- kernels -------------------------------------------------------------------------

__device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// A block reduction as the engine writes them: warp shuffles, then warp 0 alone.
__global__ void block_sum_kernel(float* out, const float* in, int n) {
  ENGINE_SHARED(float, part, [32]);
  float v = 0.f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) v += in[blockIdx.x * n + i];
  v = warp_sum(v);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < int(blockDim.x >> 5) ? part[lane] : 0.f;
    v = warp_sum(v);
    if (lane == 0) out[blockIdx.x] = v;
  }
}

// Reverses a block's values through shared memory; `barrier` false plants the bug.
__global__ void reverse_kernel(int* out, const int* in, bool barrier) {
  ENGINE_SHARED(int, tile, [256]);
  const int t = threadIdx.x, n = blockDim.x;
  tile[t] = in[blockIdx.x * n + t];
  if (barrier) __syncthreads();
  out[blockIdx.x * n + t] = tile[n - 1 - t];
}

// A race on global memory: each thread reads its right neighbour's value and then
// overwrites its own, with nothing ordering the two.
__global__ void shift_race_kernel(int* data, int* out) {
  const int t = threadIdx.x;
  out[t] = data[t + 1];
  data[t] = -1;
}

__global__ void divergent_barrier_kernel(float* out) {
  if (threadIdx.x < 16) __syncthreads();
  out[threadIdx.x] = 1.f;
}

__global__ void two_barriers_kernel(float* out) {
  if (threadIdx.x % 2) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1.f;
}

__global__ void shfl_mask_kernel(int* out, int mode) {
  const int lane = threadIdx.x & 31;
  int v = lane;
  if (mode == 0) {
    // Lanes 0-15 only, but lane i reads lane i ^ 16: outside the mask.
    if (lane < 16) v = __shfl_xor_sync(0x0000ffffu, v, 16);
  } else if (mode == 1) {
    // Every lane calls with a mask naming only the low half.
    v = __shfl_sync(0x0000ffffu, v, 0);
  } else if (mode == 2) {
    // Lane 5 leaves; the full mask still names it.
    if (lane == 5) return;
    v = __shfl_sync(0xffffffffu, v, 0);
  } else {
    // Correct partial-warp shuffle: the low half exchanges among itself.
    if (lane < 16) v = __shfl_xor_sync(0x0000ffffu, v, 1);
  }
  out[threadIdx.x] = v;
}

__global__ void deadlock_kernel(int* out) {
  int v = threadIdx.x;
  if (threadIdx.x == 0) {
    __syncthreads();
  } else {
    v = __shfl_sync(0xffffffffu, v, 0);
  }
  out[threadIdx.x] = v;
}

// Only warp 1 shuffles; warp 0 leaves at once (warp-scoped collectives allow this).
__global__ void one_warp_shuffles_kernel(float* out) {
  if (threadIdx.x < 32) return;
  float v = warp_sum(1.f);
  if (threadIdx.x == 32) out[0] = v;
}

__global__ void read_shared_unwritten_kernel(unsigned* out) {
  ENGINE_SHARED(unsigned, s, [4]);
  if (threadIdx.x == 0) out[0] = s[3];
}

__global__ void dynamic_shared_kernel(float* out, int n) {
  ENGINE_DYNAMIC_SHARED(float, buf);
  for (int i = threadIdx.x; i < n; i += blockDim.x) buf[i] = float(i % 4);
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.f;
    for (int i = 0; i < n; ++i) s += buf[i];
    out[0] = s;
  }
}

__global__ void write_kernel(float* out, int n) {
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = 2.f;
}

__global__ void index_kernel(int* out) {
  const int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int threads = blockDim.x * blockDim.y * blockDim.z;
  out[b * threads + t] = b * 1000 + t;
}

__global__ void ballot_kernel(unsigned* out) {
  unsigned b = __ballot_sync(0xffffffffu, threadIdx.x % 3 == 0);
  if (threadIdx.x == 0) out[0] = b;
}

__global__ void atomic_kernel(unsigned long long* c, double* d) {
  atomicAdd(c, 1ull);
  atomicAdd(d, 0.5);
}

}  // namespace

TEST_CASE("a block reduction gives the exact sum under every thread order", "[cudasim]") {
  Fresh fresh;
  const int blocks = 3, n = 1000;
  std::vector<float> h(size_t(blocks * n));
  for (size_t i = 0; i < h.size(); ++i) h[i] = float(i % 7);
  float* in = to_dev(h);
  float* out = dev_alloc<float>(blocks);
  for (Schedule s : kAll) {
    cudasim::set_schedule(s, 42);
    for (int threads : {32, 64, 256, 1024}) {
      ENGINE_LAUNCH(blocks, threads, 0, nullptr, block_sum_kernel)(out, in, n);
      REQUIRE(cudaGetLastError() == cudaSuccess);
      std::vector<float> got = to_host(out, blocks);
      for (int b = 0; b < blocks; ++b) {
        float want = 0.f;
        for (int i = 0; i < n; ++i) want += h[size_t(b * n + i)];
        INFO(cudasim::schedule_name(s) << ", " << threads << " threads, block " << b);
        CHECK(got[size_t(b)] == want);
      }
    }
  }
}

TEST_CASE("built-in indices cover 3-D grids and blocks", "[cudasim]") {
  Fresh fresh;
  dim3 grid(3, 2, 2), block(4, 3, 2);
  const int threads = 24, blocks = 12;
  int* out = dev_alloc<int>(threads * blocks);
  ENGINE_LAUNCH(grid, block, 0, nullptr, index_kernel)(out);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  std::vector<int> got = to_host(out, threads * blocks);
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < threads; ++t) CHECK(got[size_t(b * threads + t)] == b * 1000 + t);
}

TEST_CASE("a missing barrier gives a wrong result under some thread order", "[cudasim]") {
  Fresh fresh;
  const int n = 256;
  std::vector<int> h(n);
  std::iota(h.begin(), h.end(), 0);
  int* in = to_dev(h);
  int* out = dev_alloc<int>(n);
  auto run = [&](bool barrier) {
    ENGINE_LAUNCH(1, n, 0, nullptr, reverse_kernel)(out, in, barrier);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    std::vector<int> got = to_host(out, n);
    for (int t = 0; t < n; ++t)
      if (got[size_t(t)] != n - 1 - t) return false;
    return true;
  };
  int caught = 0;
  for (Schedule s : kAll) {
    cudasim::set_schedule(s, 7);
    CHECK(run(true));
    if (!run(false)) ++caught;
  }
  CHECK(caught >= 1);
}

TEST_CASE("a planted race gives different results under different thread orders", "[cudasim]") {
  Fresh fresh;
  const int n = 64;
  std::vector<int> h(n + 1);
  std::iota(h.begin(), h.end(), 100);
  int* data = dev_alloc<int>(n + 1);
  int* out = dev_alloc<int>(n);
  std::vector<std::vector<int>> results;
  for (Schedule s : kAll) {
    cudasim::set_schedule(s, 3);
    REQUIRE(cudaMemcpy(data, h.data(), h.size() * sizeof(int), cudaMemcpyHostToDevice) == cudaSuccess);
    ENGINE_LAUNCH(1, n, 0, nullptr, shift_race_kernel)(data, out);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    results.push_back(to_host(out, n));
  }
  bool differ = false;
  for (auto& r : results) differ = differ || r != results[0];
  CHECK(differ);
}

TEST_CASE("a barrier reached by part of a block is reported with kernel and thread", "[cudasim]") {
  Fresh fresh;
  float* out = dev_alloc<float>(64);
  ENGINE_LAUNCH(1, 64, 0, nullptr, divergent_barrier_kernel)(out);
  CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  CHECK(reported("divergent_barrier_kernel"));
  CHECK(reported("divergent barrier"));
  CHECK(reported("thread ("));
  // Sticky, as a fault on a GPU: every later call fails until the device is reset.
  CHECK(cudaMemset(out, 0, 4) == cudaErrorLaunchFailure);
  CHECK(std::string(cudaGetErrorString(cudaErrorLaunchFailure)).find("divergent barrier") != std::string::npos);
}

TEST_CASE("barriers at different places in one block are reported", "[cudasim]") {
  Fresh fresh;
  float* out = dev_alloc<float>(64);
  ENGINE_LAUNCH(1, 64, 0, nullptr, two_barriers_kernel)(out);
  CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  CHECK(reported("two_barriers_kernel"));
  CHECK(reported("waits at __syncthreads test_exec.cu:"));
}

TEST_CASE("shuffles with a wrong mask are reported", "[cudasim]") {
  int* out = nullptr;
  SECTION("source lane outside the mask") {
    Fresh fresh;
    out = dev_alloc<int>(32);
    ENGINE_LAUNCH(1, 32, 0, nullptr, shfl_mask_kernel)(out, 0);
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
    CHECK(reported("shfl_mask_kernel"));
    CHECK(reported("outside the mask"));
  }
  SECTION("caller outside its own mask") {
    Fresh fresh;
    out = dev_alloc<int>(32);
    ENGINE_LAUNCH(1, 32, 0, nullptr, shfl_mask_kernel)(out, 1);
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
    CHECK(reported("does not name the calling lane"));
  }
  SECTION("a lane of the mask exited") {
    for (Schedule s : kAll) {
      Fresh fresh;
      cudasim::set_schedule(s, 5);
      out = dev_alloc<int>(32);
      ENGINE_LAUNCH(1, 32, 0, nullptr, shfl_mask_kernel)(out, 2);
      CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
      CHECK((reported("exited") || reported("first thread of this warp")));
    }
  }
  SECTION("a correct half-warp shuffle runs") {
    Fresh fresh;
    out = dev_alloc<int>(32);
    ENGINE_LAUNCH(1, 32, 0, nullptr, shfl_mask_kernel)(out, 3);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    std::vector<int> got = to_host(out, 32);
    for (int l = 0; l < 32; ++l) CHECK(got[size_t(l)] == (l < 16 ? (l ^ 1) : l));
  }
}

TEST_CASE("a deadlock between a barrier and a shuffle is reported", "[cudasim]") {
  Fresh fresh;
  int* out = dev_alloc<int>(32);
  ENGINE_LAUNCH(1, 32, 0, nullptr, deadlock_kernel)(out);
  CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  CHECK(reported("deadlock_kernel"));
  CHECK(reported("can never complete"));
}

TEST_CASE("warp collectives are warp-scoped: one warp may shuffle alone", "[cudasim]") {
  for (Schedule s : kAll) {
    Fresh fresh;
    cudasim::set_schedule(s, 11);
    float* out = dev_alloc<float>(1);
    ENGINE_LAUNCH(1, 64, 0, nullptr, one_warp_shuffles_kernel)(out);
    REQUIRE(cudaGetLastError() == cudaSuccess);
    CHECK(to_host(out, 1)[0] == 32.f);
  }
}

TEST_CASE("ballot and atomics", "[cudasim]") {
  Fresh fresh;
  unsigned* b = dev_alloc<unsigned>(1);
  ENGINE_LAUNCH(1, 32, 0, nullptr, ballot_kernel)(b);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  unsigned want = 0;
  for (int l = 0; l < 32; l += 3) want |= 1u << l;
  CHECK(to_host(b, 1)[0] == want);
  unsigned long long* c = dev_alloc<unsigned long long>(1);
  double* d = dev_alloc<double>(1);
  REQUIRE(cudaMemset(c, 0, 8) == cudaSuccess);
  REQUIRE(cudaMemset(d, 0, 8) == cudaSuccess);
  ENGINE_LAUNCH(7, 96, 0, nullptr, atomic_kernel)(c, d);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  CHECK(to_host(c, 1)[0] == 7u * 96u);
  CHECK(to_host(d, 1)[0] == 7 * 96 * 0.5);
}

TEST_CASE("shared memory starts as 0xFF bytes in every block", "[cudasim]") {
  Fresh fresh;
  unsigned* out = dev_alloc<unsigned>(1);
  ENGINE_LAUNCH(2, 32, 0, nullptr, read_shared_unwritten_kernel)(out);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  CHECK(to_host(out, 1)[0] == 0xFFFFFFFFu);
}

TEST_CASE("launch limits are enforced and reported through cudaGetLastError", "[cudasim]") {
  Fresh fresh;
  float* out = dev_alloc<float>(4096);
  ENGINE_LAUNCH(1, 2048, 0, nullptr, write_kernel)(out, 4096);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  CHECK(reported("write_kernel"));
  CHECK(reported("2048 threads"));
  CHECK(cudaGetLastError() == cudaSuccess);  // a launch error is not sticky
  ENGINE_LAUNCH(dim3(1, 70000), 32, 0, nullptr, write_kernel)(out, 4096);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  ENGINE_LAUNCH(1, dim3(1, 1, 65), 0, nullptr, write_kernel)(out, 4096);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  // Dynamic shared memory above 48 KiB only after cudaFuncSetAttribute.
  const int n = 16384;  // 64 KiB of floats
  ENGINE_LAUNCH(1, 256, n * sizeof(float), nullptr, dynamic_shared_kernel)(out, n);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(reported("cudaFuncSetAttribute"));
  REQUIRE(cudaFuncSetAttribute(dynamic_shared_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               int(n * sizeof(float))) == cudaSuccess);
  ENGINE_LAUNCH(1, 256, n * sizeof(float), nullptr, dynamic_shared_kernel)(out, n);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  CHECK(to_host(out, 1)[0] == float(n / 4 * 6));  // 0+1+2+3 per four
}

TEST_CASE("a host pointer passed to a kernel is reported, and the fault is sticky", "[cudasim]") {
  Fresh fresh;
  std::vector<float> host(64);
  ENGINE_LAUNCH(1, 64, 0, nullptr, write_kernel)(host.data(), 64);
  CHECK(cudaGetLastError() == cudaErrorIllegalAddress);
  CHECK(reported("write_kernel"));
  CHECK(reported("argument 0 is not device memory"));
  CHECK(host[0] == 0.f);  // the kernel did not run
  void* p = nullptr;
  CHECK(cudaMalloc(&p, 16) == cudaErrorIllegalAddress);
  cudaDeviceReset();
  CHECK(cudaMalloc(&p, 16) == cudaSuccess);
}

TEST_CASE("a freed device pointer passed to a kernel is reported as freed", "[cudasim]") {
  Fresh fresh;
  float* out = dev_alloc<float>(64);
  REQUIRE(cudaFree(out) == cudaSuccess);
  ENGINE_LAUNCH(1, 64, 0, nullptr, write_kernel)(out, 64);
  CHECK(cudaGetLastError() == cudaErrorIllegalAddress);
  CHECK((reported("freed") || reported("not in any live")));
}

TEST_CASE("simulator speed on a block reduction", "[cudasim]") {
  Fresh fresh;
  const int blocks = 256, threads = 256, n = 256;
  float* in = dev_alloc<float>(blocks * n);
  REQUIRE(cudaMemset(in, 0, blocks * n * sizeof(float)) == cudaSuccess);
  float* out = dev_alloc<float>(blocks);
  cudasim::Stats before = cudasim::stats();
  auto t0 = std::chrono::steady_clock::now();
  ENGINE_LAUNCH(blocks, threads, 0, nullptr, block_sum_kernel)(out, in, n);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  cudasim::Stats after = cudasim::stats();
  CHECK(after.threads - before.threads == uint64_t(blocks * threads));
  CHECK(after.fiber_threads - before.fiber_threads == uint64_t(blocks * threads));
  WARN("block reduction: " << blocks * threads << " simulated threads in " << s
                           << " s = " << double(blocks * threads) / s / 1e6 << " M threads/s");
}
