// The CUDA backend itself: the op table, the no-GPU behaviour, the caching allocator,
// out-of-memory and bad-index errors.
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "cuda_parity.h"

using namespace engine;
using namespace engine::testing;

namespace {

void skip(const std::string& why) {
  std::cout << "SKIPPED: " << why << std::endl;
  std::_Exit(77);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

// Needs no GPU: kernels are registered whenever the backend is compiled in.
// Ops whose CUDA kernels are not written yet, each with its reason. An op leaves this
// list when its kernel lands (the test fails if an exempt op has a kernel).
const std::map<OpKind, const char*> kCudaExempt = {};

TEST_CASE("every op that is not a view has a CUDA kernel, or a documented exemption", "[cuda_table]") {
  if (!runtime::cuda_compiled()) skip("this build has no CUDA backend");
  int needed = 0;
  std::string missing;
  for (int i = 0; i < kNumOps; ++i) {
    OpKind op = OpKind(i);
    if (!op_needs_kernel(op)) continue;
    auto ex = kCudaExempt.find(op);
    if (ex != kCudaExempt.end()) {
      std::cout << "exempt from the CUDA table: " << op_name(op) << " (" << ex->second << ")" << std::endl;
      INFO(op_name(op) << " has a CUDA kernel now: remove it from kCudaExempt");
      CHECK_FALSE(has_kernel(op, DeviceType::CUDA));
      continue;
    }
    ++needed;
    if (!has_kernel(op, DeviceType::CUDA)) missing += std::string(missing.empty() ? "" : ", ") + op_name(op);
  }
  std::cout << "ops needing a CUDA kernel: " << needed << ", exempt: " << kCudaExempt.size() << std::endl;
  INFO("ops without a CUDA kernel: " << missing);
  CHECK(missing.empty());
}

TEST_CASE("cuda supports() tells the dtypes of each kernel, and a refused dtype throws", "[cuda]") {
  if (!runtime::cuda_compiled()) skip("this build has no CUDA backend");
  CHECK(supports(OpKind::ADD, DeviceType::CUDA, DType::bf16));
  CHECK(supports(OpKind::COPY, DeviceType::CUDA, DType::u8));
  CHECK_FALSE(supports(OpKind::ADD, DeviceType::CUDA, DType::i64));
  // Atomic accumulation: f32 and f64 only.
  CHECK(supports(OpKind::SCATTER_ADD, DeviceType::CUDA, DType::f64));
  CHECK_FALSE(supports(OpKind::SCATTER_ADD, DeviceType::CUDA, DType::bf16));
  CHECK_FALSE(supports(OpKind::INDEX_ADD, DeviceType::CUDA, DType::f16));
  if (!runtime::cuda_available()) return;
  Device gpu = Device::cuda(0);
  Tensor base = Tensor::zeros({4}, DType::bf16).to(gpu);
  Tensor idx = Tensor::from_vector({0, 2}, {2}, DType::i64).to(gpu);
  Tensor src = Tensor::from_vector({1, 2}, {2}, DType::bf16).to(gpu);
  CHECK_THROWS_WITH(ops::index_add(base, 0, idx, src), Catch::Contains("dtype bf16"));
  Tensor got = ops::index_add(base.to(DType::f32), 0, idx, src.to(DType::f32));
  CHECK(got.to(Device::cpu()).to_vector() == std::vector<double>{1, 0, 2, 0});
}

TEST_CASE("without a GPU, asking for a cuda tensor is a clear error and the CPU keeps working", "[cuda_unavailable]") {
  if (runtime::cuda_available()) skip("a CUDA device is present");
  CHECK(runtime::cuda_device_count() == 0);
  CHECK_FALSE(runtime::cuda_unavailable_reason().empty());
  std::string msg;
  try {
    Tensor::empty({2, 3}, DType::f32, Device::cuda(0));
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO("message: " << msg);
  CHECK(contains(msg, "cuda:0"));
  CHECK(contains(msg, "unavailable"));
  CHECK_THROWS_AS(Tensor::ones({2}).to(Device::cuda(0)), Error);
  CHECK_THROWS_AS(runtime::cuda_memory_stats(0), Error);
  Tensor y = ops::add(Tensor::ones({2, 2}), Tensor::full({2}, 2.0));
  CHECK(y.to_vector() == std::vector<double>{3, 3, 3, 3});
}

TEST_CASE("cuda device facts are read", "[cuda]") {
  begin_cuda_test();
  runtime::CudaDeviceInfo info = runtime::cuda_device_info(0);
  std::cout << "device 0: " << info.name << ", sm_" << info.major << info.minor << ", " << info.sm_count << " SMs, "
            << info.total_memory / (1 << 20) << " MiB" << std::endl;
  CHECK_FALSE(info.name.empty());
  CHECK(info.sm_count > 0);
  CHECK(info.total_memory > 0);
  CHECK(runtime::cuda_device_count() >= 1);
  CHECK(runtime::cuda_compute_stream(0) != nullptr);
  CHECK(runtime::cuda_copy_stream(0) != runtime::cuda_compute_stream(0));
}

TEST_CASE("a device index past the last device is a clear error", "[cuda]") {
  begin_cuda_test();
  int n = runtime::cuda_device_count();
  CHECK_THROWS_WITH(Tensor::empty({4}, DType::f32, Device::cuda(n)), Catch::Contains("does not exist"));
}

TEST_CASE("host to device to host round trip keeps every dtype's bits", "[cuda]") {
  begin_cuda_test();
  for (DType d : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i32, DType::i64, DType::u8}) {
    Tensor x = rand_uniform_input({3, 37}, 11, DType::f64, 0.0, 100.0).to(d);
    Tensor back = on_gpu(x).to(Device::cpu());
    CHECK(back.to_vector() == x.to_vector());
  }
}

TEST_CASE("caching allocator: steady state needs no cudaMalloc", "[cuda]") {
  begin_cuda_test();
  auto step = [] {
    Tensor a = Tensor::empty({1000, 257}, DType::f32, gpu());
    Tensor b = Tensor::empty({31}, DType::f32, gpu());
    Tensor c = Tensor::empty({4096, 1024}, DType::f32, gpu());
    runtime::cuda_synchronize(0);
  };
  step();
  runtime::CudaMemoryStats before = runtime::cuda_memory_stats(0);
  for (int i = 0; i < 20; ++i) step();
  runtime::CudaMemoryStats after = runtime::cuda_memory_stats(0);
  CHECK(after.num_device_mallocs == before.num_device_mallocs);
  CHECK(after.num_allocs == before.num_allocs + 60);
  CHECK(after.num_cache_hits == before.num_cache_hits + 60);
  CHECK(after.allocated == before.allocated);
  CHECK(after.reserved >= after.allocated);
}

TEST_CASE("caching allocator: statistics, split and merge", "[cuda]") {
  begin_cuda_test();
  runtime::cuda_synchronize(0);
  runtime::cuda_empty_cache(0);
  runtime::cuda_reset_peak_memory(0);
  runtime::CudaMemoryStats s0 = runtime::cuda_memory_stats(0);
  const int64_t n = 64 * 1024;  // 256 KiB of f32: the small pool, several blocks per 2 MiB segment
  {
    Tensor a = Tensor::empty({n}, DType::f32, gpu());
    Tensor b = Tensor::empty({n}, DType::f32, gpu());
    Tensor c = Tensor::empty({n}, DType::f32, gpu());
    runtime::CudaMemoryStats s1 = runtime::cuda_memory_stats(0);
    CHECK(s1.allocated == s0.allocated + 3 * size_t(n) * 4);
    CHECK(s1.peak_allocated >= s1.allocated);
    CHECK(s1.num_device_mallocs <= s0.num_device_mallocs + 1);
    // Neighbouring blocks of one segment.
    auto pa = static_cast<char*>(a.data_ptr()), pb = static_cast<char*>(b.data_ptr());
    CHECK(pb - pa == n * 4);
    a = Tensor();
    b = Tensor();
    // a and b merged: a request of twice the size fits in their place.
    Tensor d = Tensor::empty({2 * n}, DType::f32, gpu());
    CHECK(static_cast<char*>(d.data_ptr()) == pa);
    runtime::CudaMemoryStats s2 = runtime::cuda_memory_stats(0);
    CHECK(s2.num_device_mallocs == s1.num_device_mallocs);
  }
  runtime::CudaMemoryStats s3 = runtime::cuda_memory_stats(0);
  CHECK(s3.allocated == s0.allocated);
  CHECK(s3.peak_allocated >= s0.allocated + 3 * size_t(n) * 4);
  runtime::cuda_empty_cache(0);
  CHECK(runtime::cuda_memory_stats(0).reserved <= s3.reserved);
}

TEST_CASE("out of memory is an engine error saying what was asked and what to try", "[cuda]") {
  begin_cuda_test();
  const int64_t huge = int64_t(1) << 50;  // 4 PiB of f32
  std::string msg;
  try {
    Tensor::empty({huge}, DType::f32, gpu());
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO("message: " << msg);
  CHECK(contains(msg, "out of memory"));
  CHECK(contains(msg, "asked for"));
  CHECK(contains(msg, "smaller batch"));
  CHECK(contains(msg, "bf16"));
  CHECK(runtime::cuda_memory_stats(0).num_ooms >= 1);
  // The failure leaves the device usable.
  Tensor y = ops::add(on_gpu(Tensor::ones({3})), on_gpu(Tensor::ones({3})));
  CHECK(y.to_vector() == std::vector<double>{2, 2, 2});
}

TEST_CASE("poisoned allocations read as NaN until written", "[cuda]") {
  begin_cuda_test();
  Tensor t = Tensor::empty({5}, DType::f32, gpu());
  for (double v : t.to_vector()) CHECK(std::isnan(v));
  t.zero_();
  CHECK(t.to_vector() == std::vector<double>(5, 0.0));
}

TEST_CASE("an out-of-range index on the GPU is reported as an engine error", "[cuda]") {
  begin_cuda_test();
  Tensor x = on_gpu(rand_input({4, 3}, 5, DType::f32));
  Tensor idx = on_gpu(i64_tensor({0, 7, 1}, {3}));
  std::string msg;
  try {
    Tensor y = ops::index_select(x, 0, idx);
    runtime::cuda_synchronize(0);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO("message: " << msg);
  CHECK(contains(msg, "index 7"));
  CHECK(contains(msg, "[0, 4)"));
  // Reported once; the device stays usable.
  runtime::cuda_synchronize(0);
  CHECK(ops::sum(x).item() == Approx(ops::sum(x.to(Device::cpu())).item()).epsilon(1e-5));
}

TEST_CASE("event timer measures work on the compute stream", "[cuda]") {
  begin_cuda_test();
  Tensor x = on_gpu(rand_input({1 << 20}, 3, DType::f32));
  runtime::CudaEventTimer timer(0);
  timer.start();
  Tensor y = ops::exp(x);
  float ms = timer.stop_ms();
  CHECK(ms >= 0.0f);
}
