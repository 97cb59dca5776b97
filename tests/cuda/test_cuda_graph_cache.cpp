// CUDA graphs and the allocator: a live graph's private memory stays reserved when the
// cache is released (replays still write the intermediates the capture freed), and a
// capture that ends by any exception leaves the device usable.
#include <cmath>
#include <stdexcept>
#include <vector>

#include "cuda_parity.h"
#include "engine/backends/cuda/graph.h"

using namespace engine;
using namespace engine::testing;

TEST_CASE("cuda_empty_cache keeps the memory of a live CUDA graph", "[cuda]") {
  begin_cuda_test();
  // 16 MiB intermediates: each takes a segment of its own, wholly free once the capture drops it.
  const int64_t n = int64_t(4) << 20;
  Tensor x = Tensor::full({n}, 0.5, DType::f32, gpu());
  auto compute = [&] { return ops::add(ops::exp(ops::exp(x)), x); };
  compute();
  runtime::cuda_synchronize(0);
  runtime::cuda_empty_cache(0);
  Tensor y;
  runtime::CudaGraph graph(0);
  graph.capture([&] { y = compute(); });
  runtime::cuda_synchronize(0);
  const auto before = runtime::cuda_memory_stats(0);
  runtime::cuda_empty_cache(0);
  const auto after = runtime::cuda_memory_stats(0);
  CHECK(after.reserved == before.reserved);
  CHECK(after.num_device_frees == before.num_device_frees);

  // Eager tensors of the intermediates' size, then replays, which must leave them alone.
  std::vector<Tensor> eager;
  for (int i = 0; i < 3; ++i) eager.push_back(Tensor::full({n}, double(i + 2), DType::f32, gpu()));
  for (int r = 0; r < 2; ++r) graph.replay();
  runtime::cuda_synchronize(0);
  for (int i = 0; i < 3; ++i) {
    Tensor host = eager[size_t(i)].to(Device::cpu());
    const float* p = host.data<float>();
    int64_t changed = 0;
    for (int64_t j = 0; j < n; ++j) changed += p[j] != float(i + 2);
    CHECK(changed == 0);
  }
  Tensor yh = y.to(Device::cpu());
  const float expect = std::exp(std::exp(0.5f)) + 0.5f;
  CHECK(std::abs(yh.data<float>()[0] - expect) < 1e-4f);
  CHECK(std::abs(yh.data<float>()[n - 1] - expect) < 1e-4f);
}

TEST_CASE("a capture left by a non-engine exception ends, and the device stays usable", "[cuda]") {
  begin_cuda_test();
  Tensor x = Tensor::full({64}, 1.0, DType::f32, gpu());
  ops::exp(x);
  {
    runtime::CudaGraph graph(0);
    CHECK_THROWS_AS(graph.capture([&] {
      Tensor t = ops::exp(x);
      throw std::runtime_error("not an engine error");
    }),
                    std::runtime_error);
    CHECK_FALSE(graph.captured());
  }
  // Eager work runs (not captured) and reads back; a new capture works.
  Tensor e = ops::add(x, 1.0).to(Device::cpu());
  CHECK(e.data<float>()[63] == 2.0f);
  Tensor y;
  runtime::CudaGraph graph(0);
  graph.capture([&] { y = ops::add(x, 2.0); });
  graph.replay();
  runtime::cuda_synchronize(0);
  CHECK(y.to(Device::cpu()).data<float>()[0] == 3.0f);
}
