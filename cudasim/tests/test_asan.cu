// Out-of-bounds accesses inside kernels: the AddressSanitizer build of the simulator
// (ENGINE_SANITIZE=address with ENGINE_CUDA=SIM) catches them, and names the kernel and
// the simulated thread. The case runs the kernel in a child process, which ASan ends.
#include <catch2/catch.hpp>

#if defined(__SANITIZE_ADDRESS__)
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "kernels/cuda/launch.cuh"

namespace {

__global__ void oob_write_kernel(float* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.f;  // one past the end
}

// Runs f in a child process; returns its stderr and exit status.
template <class F>
std::pair<std::string, int> in_child(F f) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    f();
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)};
}

}  // namespace

TEST_CASE("an out-of-bounds write inside a kernel is caught and names the thread", "[cudasim]") {
  auto [err, status] = in_child([] {
    float* d = nullptr;
    if (cudaMalloc(reinterpret_cast<void**>(&d), 100 * sizeof(float)) != cudaSuccess) _exit(3);
    ENGINE_LAUNCH(4, 32, 0, nullptr, oob_write_kernel)(d, 100);
    cudaDeviceSynchronize();
  });
  INFO(err);
  CHECK(status != 0);
  CHECK(err.find("AddressSanitizer") != std::string::npos);
  CHECK(err.find("heap-buffer-overflow") != std::string::npos);
  CHECK(err.find("oob_write_kernel") != std::string::npos);
  CHECK(err.find("block (3,0,0), thread (4,0,0)") != std::string::npos);
}
#endif
