// cuBLAS and cuDNN behaviour beyond parity (which is the op-case table's, run by
// tests/ops): TF32 GEMMs stay close to f32, and conv2d reuses its cached algorithm with
// workspace from the caching allocator.
#include "cuda_parity.h"

using namespace engine;
using namespace engine::testing;

TEST_CASE("cuda matmul with TF32 stays close to f32", "[cuda]") {
  begin_cuda_test();
  Tensor a = rand_input({65, 130}, 22, DType::f32), b = rand_input({130, 47}, 23, DType::f32);
  runtime::cuda_set_tf32(true);
  Tensor got = ops::matmul(on_gpu(a), on_gpu(b));
  runtime::cuda_set_tf32(false);
  double e = normalized_error(got, ops::matmul(a, b));
  INFO("tf32 normalised error " << e);
  CHECK(e <= 1e-2);
}

TEST_CASE("cuda conv2d: the cached algorithm is reused, workspace comes from the allocator", "[cuda]") {
  begin_cuda_test();
  Tensor x = on_gpu(rand_input({8, 16, 32, 32}, 36, DType::f32)),
         w = on_gpu(rand_input({32, 16, 3, 3}, 37, DType::f32));
  ops::Conv2dOptions o;
  o.pad_h = o.pad_w = 1;
  ops::conv2d(x, w, Tensor(), o);
  runtime::cuda_synchronize(0);
  runtime::CudaMemoryStats before = runtime::cuda_memory_stats(0);
  for (int i = 0; i < 5; ++i) ops::conv2d(x, w, Tensor(), o);
  runtime::cuda_synchronize(0);
  CHECK(runtime::cuda_memory_stats(0).num_device_mallocs == before.num_device_mallocs);
}
