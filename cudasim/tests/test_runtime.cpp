// The simulated runtime: copies checked for kind and bounds, pinned and mapped memory,
// streams and events, graph capture with the real runtime's capture-error rules.
#include <cuda_runtime.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "cudasim/cudasim.h"
#include "sim_test.h"

namespace {

using simtest::Fresh;
using simtest::reported;

}  // namespace

TEST_CASE("copies are checked for kind and bounds", "[cudasim]") {
  Fresh fresh;
  void* d = nullptr;
  REQUIRE(cudaMalloc(&d, 64) == cudaSuccess);
  std::vector<char> h(128, 1);
  CHECK(cudaMemcpy(d, h.data(), 64, cudaMemcpyHostToDevice) == cudaSuccess);
  // 65 bytes into a 64-byte allocation.
  CHECK(cudaMemcpy(d, h.data(), 65, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(reported("past the end"));
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaSuccess);  // not sticky
  // Wrong kinds: a host pointer where device memory is promised, and the reverse.
  CHECK(cudaMemcpy(h.data(), d, 16, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(reported("cudaMemcpyHostToDevice"));
  CHECK(cudaMemcpy(h.data(), h.data() + 64, 16, cudaMemcpyDeviceToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(h.data(), d, 16, cudaMemcpyDefault) == cudaSuccess);
  CHECK(cudaMemset(static_cast<char*>(d) + 60, 0, 8) == cudaErrorInvalidValue);
  CHECK(cudaMemset2DAsync(d, 16, 0, 8, 4, nullptr) == cudaSuccess);
  CHECK(cudaMemset2DAsync(d, 16, 0, 8, 5, nullptr) == cudaErrorInvalidValue);
  CHECK(cudaFree(static_cast<char*>(d) + 8) == cudaErrorInvalidValue);
  CHECK(cudaFree(d) == cudaSuccess);
  CHECK(cudaMemcpy(h.data(), d, 16, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
  CHECK(reported("freed"));
}

TEST_CASE("device memory starts as 0xFF bytes and has a simulated capacity", "[cudasim]") {
  Fresh fresh;
  void* d = nullptr;
  REQUIRE(cudaMalloc(&d, 16) == cudaSuccess);
  unsigned char b[16];
  REQUIRE(cudaMemcpy(b, d, 16, cudaMemcpyDeviceToHost) == cudaSuccess);
  for (unsigned char c : b) CHECK(c == 0xFF);
  size_t free_b = 0, total_b = 0;
  REQUIRE(cudaMemGetInfo(&free_b, &total_b) == cudaSuccess);
  CHECK(total_b - free_b == 16);
  void* huge = nullptr;
  CHECK(cudaMalloc(&huge, total_b) == cudaErrorMemoryAllocation);
  CHECK(cudaGetLastError() == cudaErrorMemoryAllocation);
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("pinned memory is mapped at its host address; pageable memory is not", "[cudasim]") {
  Fresh fresh;
  void* h = nullptr;
  REQUIRE(cudaHostAlloc(&h, 256, cudaHostAllocMapped) == cudaSuccess);
  void* d = nullptr;
  REQUIRE(cudaHostGetDevicePointer(&d, h, 0) == cudaSuccess);
  CHECK(d == h);
  std::vector<char> pageable(256);
  CHECK(cudaHostGetDevicePointer(&d, pageable.data(), 0) == cudaErrorInvalidValue);
  CHECK(cudaFreeHost(pageable.data()) == cudaErrorInvalidValue);
  CHECK(cudaFreeHost(h) == cudaSuccess);
}

TEST_CASE("device properties describe an H100-class device", "[cudasim]") {
  Fresh fresh;
  int n = 0;
  REQUIRE(cudaGetDeviceCount(&n) == cudaSuccess);
  CHECK(n == 1);
  cudaDeviceProp p;
  REQUIRE(cudaGetDeviceProperties(&p, 0) == cudaSuccess);
  CHECK(p.major == 9);
  CHECK(p.maxThreadsPerBlock == 1024);
  CHECK(std::string(p.name).find("simulated") != std::string::npos);
  CHECK(cudaSetDevice(1) == cudaErrorInvalidDevice);
  int v = 0;
  CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0) == cudaSuccess);
  CHECK(v == 227 * 1024);
}

TEST_CASE("streams and events: ordering, timing, bad handles", "[cudasim]") {
  Fresh fresh;
  cudaStream_t s = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
  cudaEvent_t a = nullptr, b = nullptr, nt = nullptr;
  REQUIRE(cudaEventCreate(&a) == cudaSuccess);
  REQUIRE(cudaEventCreate(&b) == cudaSuccess);
  REQUIRE(cudaEventCreateWithFlags(&nt, cudaEventDisableTiming) == cudaSuccess);
  REQUIRE(cudaEventRecord(a, s) == cudaSuccess);
  REQUIRE(cudaEventRecord(b, s) == cudaSuccess);
  REQUIRE(cudaEventRecord(nt, s) == cudaSuccess);
  float ms = -1;
  CHECK(cudaEventElapsedTime(&ms, a, b) == cudaSuccess);
  CHECK(ms >= 0.f);
  CHECK(cudaEventElapsedTime(&ms, a, nt) == cudaErrorInvalidResourceHandle);
  CHECK(cudaEventQuery(b) == cudaSuccess);
  CHECK(cudaStreamWaitEvent(s, b, 0) == cudaSuccess);
  CHECK(cudaStreamSynchronize(s) == cudaSuccess);
  REQUIRE(cudaStreamDestroy(s) == cudaSuccess);
  void* d = nullptr;
  REQUIRE(cudaMalloc(&d, 16) == cudaSuccess);
  CHECK(cudaMemsetAsync(d, 0, 16, s) == cudaErrorInvalidResourceHandle);  // destroyed stream
  CHECK(reported("not a live stream"));
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaEventDestroy(nt);
}

TEST_CASE("graph capture records work and replays it", "[cudasim]") {
  Fresh fresh;
  cudaStream_t s = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
  void *src = nullptr, *dst = nullptr;
  REQUIRE(cudaMalloc(&src, 64) == cudaSuccess);
  REQUIRE(cudaMalloc(&dst, 64) == cudaSuccess);
  REQUIRE(cudaMemset(src, 7, 64) == cudaSuccess);
  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  cudaStreamCaptureStatus st;
  REQUIRE(cudaStreamIsCapturing(s, &st) == cudaSuccess);
  CHECK(st == cudaStreamCaptureStatusActive);
  REQUIRE(cudaMemcpyAsync(dst, src, 64, cudaMemcpyDeviceToDevice, s) == cudaSuccess);
  cudaGraph_t g = nullptr;
  REQUIRE(cudaStreamEndCapture(s, &g) == cudaSuccess);
  REQUIRE(g != nullptr);
  unsigned char h[64];
  REQUIRE(cudaMemcpy(h, dst, 64, cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(h[0] == 0xFF);  // captured, not run
  cudaGraphExec_t x = nullptr;
  REQUIRE(cudaGraphInstantiate(&x, g, 0) == cudaSuccess);
  REQUIRE(cudaMemset(src, 9, 64) == cudaSuccess);
  REQUIRE(cudaGraphLaunch(x, s) == cudaSuccess);
  REQUIRE(cudaMemcpy(h, dst, 64, cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(h[63] == 9);  // replays read the current inputs
  cudaGraphExecDestroy(x);
  cudaGraphDestroy(g);
  cudaStreamDestroy(s);
}

TEST_CASE("capture-error rules: synchronising, pageable copies, cudaMalloc", "[cudasim]") {
  Fresh fresh;
  cudaStream_t s = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
  void* d = nullptr;
  REQUIRE(cudaMalloc(&d, 64) == cudaSuccess);
  cudaGraph_t g = nullptr;

  SECTION("synchronising the capturing stream invalidates the capture") {
    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    CHECK(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported);
    CHECK(cudaMemsetAsync(d, 0, 64, s) == cudaErrorStreamCaptureInvalidated);
    CHECK(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated);
    CHECK(g == nullptr);
    CHECK(reported("invalidated"));
  }
  SECTION("a copy to pageable host memory cannot be captured") {
    std::vector<char> h(64);
    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    CHECK(cudaMemcpyAsync(h.data(), d, 64, cudaMemcpyDeviceToHost, s) == cudaErrorStreamCaptureUnsupported);
    CHECK(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated);
  }
  SECTION("cudaMalloc needs the relaxed mode during a capture") {
    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    REQUIRE(cudaThreadExchangeStreamCaptureMode(&mode) == cudaSuccess);
    void* p = nullptr;
    CHECK(cudaMalloc(&p, 64) == cudaSuccess);
    REQUIRE(cudaThreadExchangeStreamCaptureMode(&mode) == cudaSuccess);
    CHECK(cudaMalloc(&p, 64) == cudaErrorStreamCaptureUnsupported);
    CHECK(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated);
  }
  SECTION("a joined stream must be waited for before the capture ends") {
    cudaStream_t s2 = nullptr;
    REQUIRE(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking) == cudaSuccess);
    cudaEvent_t fork = nullptr, join = nullptr;
    REQUIRE(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming) == cudaSuccess);
    REQUIRE(cudaEventCreateWithFlags(&join, cudaEventDisableTiming) == cudaSuccess);
    REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    REQUIRE(cudaEventRecord(fork, s) == cudaSuccess);
    REQUIRE(cudaStreamWaitEvent(s2, fork, 0) == cudaSuccess);  // s2 joins
    REQUIRE(cudaMemsetAsync(d, 1, 64, s2) == cudaSuccess);
    bool rejoin = GENERATE(false, true);
    if (rejoin) {
      REQUIRE(cudaEventRecord(join, s2) == cudaSuccess);
      REQUIRE(cudaStreamWaitEvent(s, join, 0) == cudaSuccess);
      CHECK(cudaStreamEndCapture(s, &g) == cudaSuccess);
      CHECK(g != nullptr);
      cudaGraphDestroy(g);
    } else {
      CHECK(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureUnjoined);
    }
    cudaEventDestroy(fork);
    cudaEventDestroy(join);
    cudaStreamDestroy(s2);
  }
  cudaStreamDestroy(s);
}
