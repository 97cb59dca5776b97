// CUDA parity: batch normalisation with a fused residual-add and relu epilogue, forward
// (output, saved and running statistics) and backward (gx, ggamma, gbeta, gresidual), for
// every variant, f32/f64/bf16/f16 inputs and, beside bf16/f16, f32 parameters.
#include "cuda_parity.h"

using namespace engine;
using namespace engine::testing;

namespace {

// The dtypes of the [C] tensors to test beside an input of dtype d.
std::vector<DType> param_dtypes(DType d) {
  if (d == DType::bf16 || d == DType::f16) return {d, DType::f32};
  return {d};
}

Tensor opt_gpu(const Tensor& t) { return t.defined() ? on_gpu(t) : t; }
Tensor opt_twin(const Tensor& t) { return t.defined() ? cpu_twin(t) : t; }

}  // namespace

TEST_CASE("cuda batchnorm2d_act forward: every variant, output and statistics", "[cuda]") {
  begin_cuda_test();
  uint64_t seed = 300;
  for (DType d : float_dtypes())
    for (DType pd : param_dtypes(d))
      for (Shape s : {Shape{4, 3, 5, 7}, Shape{2, 5, 1, 1}, Shape{3, 2, 33, 31}})
        for (bool relu : {false, true})
          for (bool with_res : {false, true})
            for (bool training : {true, false}) {
              int64_t C = s[1];
              seed += 10;
              Tensor x = rand_input(s, seed, d, 0.7, 2.0), gamma = rand_input({C}, seed + 1, pd);
              Tensor beta = rand_input({C}, seed + 2, pd);
              Tensor res = with_res ? rand_input(s, seed + 3, d) : Tensor();
              Tensor rm = rand_input({C}, seed + 4, pd), rv = rand_uniform_input({C}, seed + 5, pd, 0.5, 1.5);
              Tensor rm_g = on_gpu(rm), rv_g = on_gpu(rv), rm_c = cpu_twin(rm).clone(), rv_c = cpu_twin(rv).clone();
              ops::BatchNormOutput got = ops::batchnorm2d_act(on_gpu(x), opt_gpu(res), on_gpu(gamma), on_gpu(beta),
                                                              rm_g, rv_g, relu, training, 0.1, 1e-5);
              ops::BatchNormOutput want = ops::batchnorm2d_act(cpu_twin(x), opt_twin(res), cpu_twin(gamma),
                                                               cpu_twin(beta), rm_c, rv_c, relu, training, 0.1, 1e-5);
              std::string what = "batchnorm2d_act " + shape_str(s) + " params " + dtype_name(pd) + " relu " +
                                 std::to_string(relu) + " residual " + std::to_string(with_res) + " training " +
                                 std::to_string(training);
              REQUIRE(got.save_mean.dtype() == pd);
              check_parity(got.y, want.y, d, what + " y");
              check_parity(got.save_mean, want.save_mean, pd, what + " save_mean");
              check_parity(got.save_invstd, want.save_invstd, pd, what + " save_invstd");
              check_parity(rm_g, rm_c, pd, what + " running_mean");
              check_parity(rv_g, rv_c, pd, what + " running_var");
            }
}

TEST_CASE("cuda batchnorm2d_act on channels-last tensors, forward and backward", "[cuda]") {
  begin_cuda_test();
  MemoryFormat cl = MemoryFormat::ChannelsLast;
  for (DType d : float_dtypes())
    for (Shape s : {Shape{4, 6, 5, 7}, Shape{3, 3, 1, 1}, Shape{2, 5, 17, 9}}) {
      int64_t C = s[1];
      DType pd = d == DType::f64 ? d : DType::f32;
      Tensor x = rand_input(s, 700, d, 0.3, 1.5).contiguous(cl), res = rand_input(s, 701, d).contiguous(cl);
      Tensor gamma = rand_input({C}, 702, pd), beta = rand_input({C}, 703, pd);
      Tensor rm = rand_input({C}, 704, pd), rv = rand_uniform_input({C}, 705, pd, 0.5, 1.5);
      Tensor rm_g = on_gpu(rm), rv_g = on_gpu(rv), rm_c = cpu_twin(rm).clone(), rv_c = cpu_twin(rv).clone();
      ops::BatchNormOutput got = ops::batchnorm2d_act(on_gpu(x), on_gpu(res), on_gpu(gamma), on_gpu(beta), rm_g,
                                                      rv_g, true, true, 0.1, 1e-5);
      ops::BatchNormOutput want = ops::batchnorm2d_act(cpu_twin(x), cpu_twin(res), cpu_twin(gamma), cpu_twin(beta),
                                                       rm_c, rv_c, true, true, 0.1, 1e-5);
      std::string what = "batchnorm2d_act channels-last " + shape_str(s);
      // The output keeps the input's layout on both devices ([N, C, 1, 1] too, whose
      // channels-last strides are those .contiguous(cl) gives it).
      CHECK(got.y.strides() == want.y.strides());
      CHECK(got.y.suggest_memory_format() == cl);
      check_parity(got.y, want.y, d, what + " y");
      check_parity(rm_g, rm_c, pd, what + " running_mean");
      check_parity(rv_g, rv_c, pd, what + " running_var");
      Tensor gy = rand_input(s, 706, d).contiguous(cl);
      Tensor y = cpu_twin(got.y.to(Device::cpu())).to(d).contiguous(cl);
      ops::BatchNormActGrads gg = ops::batchnorm2d_act_bwd(on_gpu(gy), on_gpu(y), on_gpu(x), on_gpu(gamma),
                                                           got.save_mean, got.save_invstd, true, true, true);
      ops::BatchNormActGrads gw =
          ops::batchnorm2d_act_bwd(cpu_twin(gy), cpu_twin(y), cpu_twin(x), cpu_twin(gamma),
                                   got.save_mean.to(Device::cpu()), got.save_invstd.to(Device::cpu()), true, true,
                                   true);
      check_parity(gg.gx, gw.gx, d, what + " gx");
      check_parity(gg.ggamma, gw.ggamma, d, what + " ggamma");
      check_parity(gg.gbeta, gw.gbeta, d, what + " gbeta");
      check_parity(gg.gresidual, gw.gresidual, d, what + " gresidual");
    }
}

TEST_CASE("cuda batchnorm2d_act forward without affine parameters or running statistics", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes()) {
    Shape s = {3, 4, 9, 7};
    Tensor x = rand_input(s, 400, d), res = rand_input(s, 401, d);
    ops::BatchNormOutput got =
        ops::batchnorm2d_act(on_gpu(x), on_gpu(res), Tensor(), Tensor(), Tensor(), Tensor(), true, true, 0.1, 1e-5);
    ops::BatchNormOutput want = ops::batchnorm2d_act(cpu_twin(x), cpu_twin(res), Tensor(), Tensor(), Tensor(),
                                                     Tensor(), true, true, 0.1, 1e-5);
    check_parity(got.y, want.y, d, "batchnorm2d_act bare y");
  }
}

TEST_CASE("cuda batchnorm2d_act backward: every variant, all four gradients", "[cuda]") {
  begin_cuda_test();
  uint64_t seed = 500;
  for (DType d : float_dtypes())
    for (DType pd : param_dtypes(d))
      for (Shape s : {Shape{4, 3, 7, 5}, Shape{1, 2, 1, 3}, Shape{3, 2, 33, 31}})
        for (bool relu : {false, true})
          for (bool want_res : {false, true})
            for (bool training : {true, false}) {
              int64_t C = s[1];
              seed += 10;
              Tensor gy = rand_input(s, seed, d), x = rand_input(s, seed + 1, d);
              // Only the sign of y matters: about half of it clamped to zero.
              Tensor y = ops::relu(randn64(s, seed + 2)).to(d);
              Tensor gamma = rand_input({C}, seed + 3, pd), mean = rand_input({C}, seed + 4, pd, 0.0, 0.3);
              Tensor invstd = rand_uniform_input({C}, seed + 5, pd, 0.5, 2.0);
              ops::BatchNormActGrads got = ops::batchnorm2d_act_bwd(on_gpu(gy), on_gpu(y), on_gpu(x), on_gpu(gamma),
                                                                    on_gpu(mean), on_gpu(invstd), relu, training,
                                                                    want_res);
              ops::BatchNormActGrads want =
                  ops::batchnorm2d_act_bwd(cpu_twin(gy), cpu_twin(y), cpu_twin(x), cpu_twin(gamma), cpu_twin(mean),
                                           cpu_twin(invstd), relu, training, want_res);
              std::string what = "batchnorm2d_act_bwd " + shape_str(s) + " params " + dtype_name(pd) + " relu " +
                                 std::to_string(relu) + " training " + std::to_string(training);
              check_parity(got.gx, want.gx, d, what + " gx");
              check_parity(got.ggamma, want.ggamma, pd == DType::f32 ? d : pd, what + " ggamma");
              check_parity(got.gbeta, want.gbeta, pd == DType::f32 ? d : pd, what + " gbeta");
              if (want_res) {
                check_parity(got.gresidual, want.gresidual, d, what + " gresidual");
              } else {
                CHECK_FALSE(got.gresidual.defined());
              }
            }
}

// Sizes past one slice of rows per channel (the kernels split N*HW rows into slices
// whose partial sums a second kernel adds): rows not a multiple of the slice, the slice
// cap reached (C=1, 270,900 rows), C not a multiple of the 32-channel groups, batch 1,
// planes smaller and larger than a block; x off-centre (mean 3, stddev 0.5) for the
// one-pass variance. Both layouts, forward and backward, and two runs are bitwise equal.
TEST_CASE("cuda batchnorm2d_act split over many blocks: both layouts, forward and backward", "[cuda]") {
  begin_cuda_test();
  uint64_t seed = 900;
  int variant = 0;
  for (Shape s : {Shape{3, 5, 19, 23}, Shape{1, 33, 40, 41}, Shape{3, 1, 300, 301}, Shape{2, 70, 30, 31},
                  Shape{37, 4, 5, 7}, Shape{5, 2, 17, 19}})
    for (MemoryFormat mf : {MemoryFormat::Contiguous, MemoryFormat::ChannelsLast})
      for (DType d : float_dtypes())
        for (DType pd : param_dtypes(d)) {
          int64_t C = s[1];
          seed += 10;
          ++variant;
          bool relu = variant % 2 == 0, with_res = variant % 3 != 0, training = variant % 4 != 1;
          Tensor x = rand_input(s, seed, d, 3.0, 0.5).contiguous(mf);
          Tensor res = with_res ? rand_input(s, seed + 1, d).contiguous(mf) : Tensor();
          Tensor gamma = rand_input({C}, seed + 2, pd), beta = rand_input({C}, seed + 3, pd);
          Tensor rm = rand_input({C}, seed + 4, pd, 3.0, 0.1), rv = rand_uniform_input({C}, seed + 5, pd, 0.2, 0.3);
          Tensor rm_g = on_gpu(rm), rv_g = on_gpu(rv), rm_c = cpu_twin(rm).clone(), rv_c = cpu_twin(rv).clone();
          Tensor rm_g2 = on_gpu(rm), rv_g2 = on_gpu(rv);
          ops::BatchNormOutput got = ops::batchnorm2d_act(on_gpu(x), opt_gpu(res), on_gpu(gamma), on_gpu(beta), rm_g,
                                                          rv_g, relu, training, 0.1, 1e-5);
          ops::BatchNormOutput again = ops::batchnorm2d_act(on_gpu(x), opt_gpu(res), on_gpu(gamma), on_gpu(beta),
                                                            rm_g2, rv_g2, relu, training, 0.1, 1e-5);
          ops::BatchNormOutput want = ops::batchnorm2d_act(cpu_twin(x), opt_twin(res), cpu_twin(gamma),
                                                           cpu_twin(beta), rm_c, rv_c, relu, training, 0.1, 1e-5);
          std::string what = "batchnorm2d_act split " + shape_str(s) +
                             (mf == MemoryFormat::ChannelsLast ? " channels-last" : " nchw") + " params " +
                             dtype_name(pd) + " relu " + std::to_string(relu) + " residual " +
                             std::to_string(with_res) + " training " + std::to_string(training);
          check_parity(got.y, want.y, d, what + " y");
          check_parity(got.save_mean, want.save_mean, pd, what + " save_mean");
          check_parity(got.save_invstd, want.save_invstd, pd, what + " save_invstd");
          check_parity(rm_g, rm_c, pd, what + " running_mean");
          check_parity(rv_g, rv_c, pd, what + " running_var");
          check_exact(got.y, again.y.to(Device::cpu()), what + " y run to run");
          check_exact(got.save_invstd, again.save_invstd.to(Device::cpu()), what + " save_invstd run to run");

          Tensor gy = rand_input(s, seed + 6, d).contiguous(mf);
          // The CPU gets the GPU's y (the relu mask) and saved statistics.
          Tensor y = cpu_twin(got.y.to(Device::cpu())).to(d).contiguous(mf);
          Tensor sm = got.save_mean.to(Device::cpu()), si = got.save_invstd.to(Device::cpu());
          ops::BatchNormActGrads gg = ops::batchnorm2d_act_bwd(on_gpu(gy), on_gpu(y), on_gpu(x), on_gpu(gamma),
                                                               got.save_mean, got.save_invstd, relu, training, true);
          ops::BatchNormActGrads gg2 = ops::batchnorm2d_act_bwd(on_gpu(gy), on_gpu(y), on_gpu(x), on_gpu(gamma),
                                                                got.save_mean, got.save_invstd, relu, training, true);
          ops::BatchNormActGrads gw = ops::batchnorm2d_act_bwd(cpu_twin(gy), cpu_twin(y), cpu_twin(x),
                                                               cpu_twin(gamma), cpu_twin(sm), cpu_twin(si), relu,
                                                               training, true);
          DType gd = pd == DType::f32 ? d : pd;
          check_parity(gg.gx, gw.gx, d, what + " gx");
          check_parity(gg.ggamma, gw.ggamma, gd, what + " ggamma");
          check_parity(gg.gbeta, gw.gbeta, gd, what + " gbeta");
          check_parity(gg.gresidual, gw.gresidual, d, what + " gresidual");
          check_exact(gg.gx, gg2.gx.to(Device::cpu()), what + " gx run to run");
          check_exact(gg.ggamma, gg2.ggamma.to(Device::cpu()), what + " ggamma run to run");
        }
}
