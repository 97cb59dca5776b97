// Errors the mixture-of-experts CUDA kernels report: an expert index out of range in
// routing (the one-block placement and the CUB sorting path) and offsets past the
// buffer in the grouped GEMM (tiled kernels and the cuBLAS path). Their parity with the
// CPU is the op-case table's (opcases/cases_moe.cpp, run by tests/ops).
#include <cstdlib>

#include "cuda_parity.h"

using namespace engine;
using namespace engine::testing;

namespace {

// The message of the error the call (and the synchronisation after it) throws.
template <class F>
std::string error_of(F f) {
  std::string msg;
  try {
    f();
    runtime::cuda_synchronize(0);
  } catch (const Error& e) {
    msg = e.what();
  }
  runtime::cuda_synchronize(0);
  return msg;
}

}  // namespace

TEST_CASE("cuda moe_route reports an expert index out of range, on both routing paths", "[cuda]") {
  begin_cuda_test();
  for (const char* impl : {"place", "sort"}) {
    setenv("ENGINE_MOE_ROUTE", impl, 1);
    Tensor idx = on_gpu(i64_tensor({0, 1, 7, 2}, {4, 1}));
    std::string msg = error_of([&] { ops::moe_route(idx, Tensor(), 3, -1); });
    unsetenv("ENGINE_MOE_ROUTE");
    INFO(impl << " message: " << msg);
    CHECK(msg.find("index 7") != std::string::npos);
    if (std::string(impl) == "place") CHECK(msg.find("[0, 3)") != std::string::npos);
  }
}

TEST_CASE("cuda moe_grouped_matmul reports offsets past the buffer", "[cuda]") {
  begin_cuda_test();
  Tensor x = on_gpu(rand_input({4, 3}, 120, DType::f32)), w = on_gpu(rand_input({2, 3, 2}, 121, DType::f32));
  Tensor off = on_gpu(i64_tensor({0, 2, 9}, {3}));
  // The tiled kernels report on the device; the cuBLAS path checks the offsets it reads back.
  for (const char* impl : {"tiled", "cublas"}) {
    setenv("ENGINE_MOE_GEMM", impl, 1);
    std::string msg = error_of([&] { Tensor y = ops::moe_grouped_matmul(x, w, off); });
    unsetenv("ENGINE_MOE_GEMM");
    INFO(impl << " message: " << msg);
    CHECK(msg.find(std::string(impl) == "tiled" ? "index 9" : "offsets[2] = 9") != std::string::npos);
  }
}
