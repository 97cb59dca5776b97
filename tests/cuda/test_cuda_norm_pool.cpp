// CUDA parity: batch norm (training and eval, running statistics, backward) and
// pooling (max, average, global) forward and backward.
#include "cuda_parity.h"

using namespace engine;
using namespace engine::testing;

TEST_CASE("cuda batchnorm2d training: output, saved statistics, running statistics", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (Shape s : {Shape{4, 3, 5, 7}, Shape{2, 5, 1, 1}, Shape{3, 2, 33, 31}}) {
      int64_t C = s[1];
      Tensor x = rand_input(s, 40, d, 0.7, 2.0), gamma = rand_input({C}, 41, d), beta = rand_input({C}, 42, d);
      Tensor rm = rand_input({C}, 43, d), rv = rand_uniform_input({C}, 44, d, 0.5, 1.5);
      Tensor rm_g = on_gpu(rm), rv_g = on_gpu(rv), rm_c = cpu_twin(rm).clone(), rv_c = cpu_twin(rv).clone();
      ops::BatchNormOutput got = ops::batchnorm2d(on_gpu(x), on_gpu(gamma), on_gpu(beta), rm_g, rv_g, true, 0.1, 1e-5);
      ops::BatchNormOutput want =
          ops::batchnorm2d(cpu_twin(x), cpu_twin(gamma), cpu_twin(beta), rm_c, rv_c, true, 0.1, 1e-5);
      std::string what = "batchnorm2d train " + shape_str(s);
      check_parity(got.y, want.y, d, what + " y");
      check_parity(got.save_mean, want.save_mean, d, what + " save_mean");
      check_parity(got.save_invstd, want.save_invstd, d, what + " save_invstd");
      check_parity(rm_g, rm_c, d, what + " running_mean");
      check_parity(rv_g, rv_c, d, what + " running_var");
      // Without affine parameters or running statistics.
      ops::BatchNormOutput bare = ops::batchnorm2d(on_gpu(x), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5);
      ops::BatchNormOutput bare_c = ops::batchnorm2d(cpu_twin(x), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5);
      check_parity(bare.y, bare_c.y, d, what + " without gamma, beta, running statistics");
    }
}

TEST_CASE("cuda batchnorm2d eval uses the running statistics", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes()) {
    Tensor x = rand_input({3, 4, 6, 5}, 45, d), gamma = rand_input({4}, 46, d), beta = rand_input({4}, 47, d);
    Tensor rm = rand_input({4}, 48, d), rv = rand_uniform_input({4}, 49, d, 0.5, 1.5);
    ops::BatchNormOutput got = ops::batchnorm2d(on_gpu(x), on_gpu(gamma), on_gpu(beta), on_gpu(rm), on_gpu(rv), false,
                                                0.1, 1e-5);
    ops::BatchNormOutput want = ops::batchnorm2d(cpu_twin(x), cpu_twin(gamma), cpu_twin(beta), cpu_twin(rm),
                                                 cpu_twin(rv), false, 0.1, 1e-5);
    check_parity(got.y, want.y, d, "batchnorm2d eval y");
    check_parity(got.save_invstd, want.save_invstd, d, "batchnorm2d eval save_invstd");
  }
}

TEST_CASE("cuda batchnorm2d backward, training and eval", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (bool training : {true, false}) {
      Shape s = {4, 3, 7, 5};
      Tensor gy = rand_input(s, 50, d), x = rand_input(s, 51, d), gamma = rand_input({3}, 52, d);
      Tensor mean = rand_input({3}, 53, d, 0.0, 0.3), invstd = rand_uniform_input({3}, 54, d, 0.5, 2.0);
      ops::BatchNormGrads got =
          ops::batchnorm2d_bwd(on_gpu(gy), on_gpu(x), on_gpu(gamma), on_gpu(mean), on_gpu(invstd), training);
      ops::BatchNormGrads want = ops::batchnorm2d_bwd(cpu_twin(gy), cpu_twin(x), cpu_twin(gamma), cpu_twin(mean),
                                                      cpu_twin(invstd), training);
      std::string what = training ? "batchnorm2d_bwd train" : "batchnorm2d_bwd eval";
      check_parity(got.gx, want.gx, d, what + " gx");
      check_parity(got.ggamma, want.ggamma, d, what + " ggamma");
      check_parity(got.gbeta, want.gbeta, d, what + " gbeta");
    }
}

namespace {

std::vector<ops::Pool2dOptions> pool_cases() {
  ops::Pool2dOptions k2, k3s2p1, k3s1, k3s2_exclude;
  k3s2p1.kh = k3s2p1.kw = 3;
  k3s2p1.ph = k3s2p1.pw = 1;
  k3s1.kh = k3s1.kw = 3;
  k3s1.sh = k3s1.sw = 1;
  k3s2_exclude.kh = 3;
  k3s2_exclude.kw = 2;
  k3s2_exclude.sh = 2;
  k3s2_exclude.sw = 1;
  k3s2_exclude.ph = 1;
  k3s2_exclude.count_include_pad = false;
  return {k2, k3s2p1, k3s1, k3s2_exclude};
}

}  // namespace

TEST_CASE("cuda maxpool2d forward and backward, overlapping windows and padding", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (const ops::Pool2dOptions& o : pool_cases()) {
      // Distinct values: the arg-max, and so the routing of gradients, is unambiguous in every dtype.
      Tensor x = distinct64({2, 3, 9, 11}, 55, 0.25).to(d);
      ops::MaxPoolOutput got = ops::maxpool2d(on_gpu(x), o);
      ops::MaxPoolOutput want = ops::maxpool2d(cpu_twin(x), o);
      std::string what = "maxpool2d k" + std::to_string(o.kh) + "x" + std::to_string(o.kw);
      check_parity(got.y, want.y, d, what + " y");
      check_exact(got.indices, want.indices, what + " indices");
      Tensor gy = rand_input(want.y.shape(), 56, d);
      check_parity(ops::maxpool2d_bwd(on_gpu(gy), got.indices, x.shape(), o),
                   ops::maxpool2d_bwd(cpu_twin(gy), want.indices, x.shape(), o), d, what + " backward");
    }
}

TEST_CASE("cuda maxpool2d ties go to the first maximum in window order", "[cuda]") {
  begin_cuda_test();
  ops::Pool2dOptions o;
  o.kh = o.kw = 3;
  o.sh = o.sw = 1;
  Tensor x = Tensor::full({1, 2, 6, 6}, 1.5);
  check_exact(ops::maxpool2d(on_gpu(x), o).indices, ops::maxpool2d(x, o).indices, "maxpool2d tie indices");
}

TEST_CASE("cuda avgpool2d forward and backward, with and without the padding in the divisor", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (const ops::Pool2dOptions& o : pool_cases()) {
      Tensor x = rand_input({2, 3, 9, 11}, 57, d);
      Tensor want = ops::avgpool2d(cpu_twin(x), o);
      std::string what = "avgpool2d k" + std::to_string(o.kh) + "x" + std::to_string(o.kw);
      check_parity(ops::avgpool2d(on_gpu(x), o), want, d, what);
      Tensor gy = rand_input(want.shape(), 58, d);
      check_parity(ops::avgpool2d_bwd(on_gpu(gy), x.shape(), o), ops::avgpool2d_bwd(cpu_twin(gy), x.shape(), o), d,
                   what + " backward");
    }
}

TEST_CASE("cuda global average pooling", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (Shape s : {Shape{3, 5, 7, 9}, Shape{2, 4, 1, 1}, Shape{2, 3, 40, 41}}) {
      Tensor x = rand_input(s, 59, d);
      check_parity(ops::global_avgpool(on_gpu(x)), ops::global_avgpool(cpu_twin(x)), d, "global_avgpool " + shape_str(s));
    }
}
