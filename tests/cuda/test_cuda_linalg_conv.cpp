// CUDA parity: matmul and linear (cuBLAS), conv2d forward and backward (cuDNN).
#include "cuda_parity.h"

using namespace engine;
using namespace engine::testing;

TEST_CASE("cuda matmul: batched, broadcast batch, transposed views, vectors", "[cuda]") {
  begin_cuda_test();
  runtime::cuda_set_tf32(false);
  for (DType d : float_dtypes()) {
    struct Case {
      Shape a, b;
      bool ta, tb;  // operand given as a transposed view
    };
    for (const Case& k : {Case{{7, 5}, {5, 9}, false, false}, Case{{3, 7, 5}, {3, 5, 9}, false, false},
                          Case{{2, 1, 4, 6}, {3, 6, 5}, false, false}, Case{{4, 6, 3}, {6, 5}, true, false},
                          Case{{4, 7, 5}, {4, 9, 5}, false, true}, Case{{6}, {2, 6, 3}, false, false},
                          Case{{3, 8}, {8}, false, false}, Case{{1, 33}, {33, 1}, false, false}}) {
      Tensor a = rand_input(k.a, 20, d), b = rand_input(k.b, 21, d);
      Tensor ag = on_gpu(a), bg = on_gpu(b), ac = cpu_twin(a), bc = cpu_twin(b);
      if (k.ta) {
        ag = ag.transpose(-1, -2);
        ac = ac.transpose(-1, -2);
      }
      if (k.tb) {
        bg = bg.transpose(-1, -2);
        bc = bc.transpose(-1, -2);
      }
      check_parity(ops::matmul(ag, bg), ops::matmul(ac, bc), d,
                   "matmul " + shape_str(ag.shape()) + " x " + shape_str(bg.shape()));
    }
  }
}

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

TEST_CASE("cuda linear with and without bias", "[cuda]") {
  begin_cuda_test();
  runtime::cuda_set_tf32(false);
  for (DType d : float_dtypes()) {
    Tensor x = rand_input({13, 17}, 24, d), w = rand_input({11, 17}, 25, d), bias = rand_input({11}, 26, d);
    check_parity(ops::linear(on_gpu(x), on_gpu(w), on_gpu(bias)), ops::linear(cpu_twin(x), cpu_twin(w), cpu_twin(bias)),
                 d, "linear with bias");
    check_parity(ops::linear(on_gpu(x), on_gpu(w), Tensor()), ops::linear(cpu_twin(x), cpu_twin(w), Tensor()), d,
                 "linear without bias");
  }
}

namespace {

struct ConvCase {
  Shape x, w;
  ops::Conv2dOptions o;
  const char* what;
};

std::vector<ConvCase> conv_cases() {
  ops::Conv2dOptions plain, strided, dilated, grouped, depthwise;
  strided.stride_h = 2;
  strided.stride_w = 2;
  strided.pad_h = 1;
  strided.pad_w = 1;
  dilated.dil_h = 2;
  dilated.dil_w = 2;
  dilated.pad_h = 2;
  dilated.pad_w = 1;
  grouped.groups = 3;
  grouped.pad_h = 1;
  grouped.pad_w = 1;
  depthwise.groups = 4;
  depthwise.pad_h = 1;
  depthwise.pad_w = 1;
  depthwise.stride_w = 2;
  return {{{2, 3, 9, 7}, {5, 3, 3, 3}, plain, "3x3"},
          {{3, 4, 11, 10}, {6, 4, 3, 3}, strided, "3x3 stride 2 pad 1"},
          {{2, 3, 12, 9}, {4, 3, 3, 2}, dilated, "dilation 2"},
          {{2, 6, 7, 8}, {9, 2, 3, 3}, grouped, "groups 3"},
          {{1, 4, 9, 9}, {4, 1, 3, 3}, depthwise, "depthwise"},
          {{4, 8, 5, 5}, {16, 8, 1, 1}, plain, "1x1"}};
}

}  // namespace

TEST_CASE("cuda conv2d forward, with and without bias", "[cuda]") {
  begin_cuda_test();
  runtime::cuda_set_tf32(false);
  for (DType d : float_dtypes())
    for (const ConvCase& k : conv_cases()) {
      Tensor x = rand_input(k.x, 30, d), w = rand_input(k.w, 31, d), bias = rand_input({k.w[0]}, 32, d);
      check_parity(ops::conv2d(on_gpu(x), on_gpu(w), on_gpu(bias), k.o),
                   ops::conv2d(cpu_twin(x), cpu_twin(w), cpu_twin(bias), k.o), d,
                   std::string("conv2d ") + k.what);
      check_parity(ops::conv2d(on_gpu(x), on_gpu(w), Tensor(), k.o), ops::conv2d(cpu_twin(x), cpu_twin(w), Tensor(), k.o),
                   d, std::string("conv2d without bias ") + k.what);
    }
}

TEST_CASE("cuda conv2d backward data and backward filter", "[cuda]") {
  begin_cuda_test();
  runtime::cuda_set_tf32(false);
  for (DType d : float_dtypes())
    for (const ConvCase& k : conv_cases()) {
      kernels::Conv2dParams p = ops::conv2d_params(k.x, k.w, k.o);
      Shape y_shape = {p.N, p.K, p.P, p.Q};
      Tensor gy = rand_input(y_shape, 33, d), w = rand_input(k.w, 34, d), x = rand_input(k.x, 35, d);
      check_parity(ops::conv2d_bwd_data(on_gpu(gy), on_gpu(w), k.x, k.o),
                   ops::conv2d_bwd_data(cpu_twin(gy), cpu_twin(w), k.x, k.o), d,
                   std::string("conv2d_bwd_data ") + k.what);
      check_parity(ops::conv2d_bwd_filter(on_gpu(gy), on_gpu(x), k.w, k.o),
                   ops::conv2d_bwd_filter(cpu_twin(gy), cpu_twin(x), k.w, k.o), d,
                   std::string("conv2d_bwd_filter ") + k.what);
    }
}

TEST_CASE("cuda conv2d: the cached algorithm is reused, workspace comes from the allocator", "[cuda]") {
  begin_cuda_test();
  Tensor x = on_gpu(rand_input({8, 16, 32, 32}, 36, DType::f32)), w = on_gpu(rand_input({32, 16, 3, 3}, 37, DType::f32));
  ops::Conv2dOptions o;
  o.pad_h = o.pad_w = 1;
  ops::conv2d(x, w, Tensor(), o);
  runtime::cuda_synchronize(0);
  runtime::CudaMemoryStats before = runtime::cuda_memory_stats(0);
  for (int i = 0; i < 5; ++i) ops::conv2d(x, w, Tensor(), o);
  runtime::cuda_synchronize(0);
  CHECK(runtime::cuda_memory_stats(0).num_device_mallocs == before.num_device_mallocs);
}
