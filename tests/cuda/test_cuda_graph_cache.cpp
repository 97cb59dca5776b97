// Releasing the allocator's cache while a CUDA graph lives: the graph's private memory
// stays reserved, since its replays still write the intermediates that the capture
// freed, and eager tensors made afterwards never share it.
#include <cmath>
#include <vector>

#include "cuda_parity.h"
#include "engine/runtime/cuda_graph.h"

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
