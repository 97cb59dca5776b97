// Batch norm with a fused residual-add and relu epilogue: equal to the unfused ops (output,
// running statistics, gradients), the channels-last format kept, the running statistics
// constant in eval, and the checks' messages. The finite-difference checks of every
// variant are the op-case table's (opcases/cases_norm_act.cpp, run by test_grad_opcases.cpp).
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

TEST_CASE("batchnorm2d_act equals relu(batchnorm2d(x) + residual): output, running statistics, gradients", "[grad]") {
  Shape s = {4, 3, 5, 3};
  for (bool relu : {false, true})
    for (bool training : {true, false}) {
      Tensor x0 = randn64(s, 260, 0.2, 1.3), r0 = randn64(s, 261), gy = randn64(s, 262);
      Tensor rm_f = randn64({3}, 263), rv_f = uniform64({3}, 264, 0.5, 2.0);
      Tensor rm_u = rm_f.clone(), rv_u = rv_f.clone();
      Variable x1(x0, true), g1(randn64({3}, 265), true), b1(randn64({3}, 266), true), r1(r0, true);
      Variable x2(x0, true), g2(g1.data(), true), b2(b1.data(), true), r2(r0, true);
      Variable fused = ag::batchnorm2d_act(x1, r1, g1, b1, rm_f, rv_f, relu, training, 0.1, 1e-5);
      Variable sum = ag::add(ag::batchnorm2d(x2, g2, b2, rm_u, rv_u, training, 0.1, 1e-5), r2);
      Variable plain = relu ? ag::relu(sum) : sum;
      INFO("relu " << relu << ", training " << training);
      CHECK(normalized_error(fused.data(), plain.data()) < 1e-13);
      CHECK(normalized_error(rm_f, rm_u) < 1e-15);
      CHECK(normalized_error(rv_f, rv_u) < 1e-15);
      ag::sum(ag::mul(fused, Variable(gy))).backward();
      ag::sum(ag::mul(plain, Variable(gy))).backward();
      CHECK(normalized_error(x1.grad(), x2.grad()) < 1e-12);
      CHECK(normalized_error(g1.grad(), g2.grad()) < 1e-12);
      CHECK(normalized_error(b1.grad(), b2.grad()) < 1e-12);
      CHECK(normalized_error(r1.grad(), r2.grad()) < 1e-12);
    }
}

TEST_CASE("batchnorm2d_act keeps a channels-last input's format and gives the NCHW results", "[grad]") {
  Shape s = {3, 5, 4, 3};
  Tensor x = randn64(s, 290), r = randn64(s, 291), gamma = randn64({5}, 292), beta = randn64({5}, 293);
  Tensor gy = randn64(s, 294);
  MemoryFormat cl = MemoryFormat::ChannelsLast;
  for (bool training : {true, false}) {
    Tensor rm1 = randn64({5}, 295), rv1 = uniform64({5}, 296, 0.5, 2.0), rm2 = rm1.clone(), rv2 = rv1.clone();
    auto a = ops::batchnorm2d_act(x, r, gamma, beta, rm1, rv1, true, training, 0.1, 1e-5);
    auto b = ops::batchnorm2d_act(x.contiguous(cl), r.contiguous(cl), gamma, beta, rm2, rv2, true, training, 0.1, 1e-5);
    CHECK(b.y.suggest_memory_format() == cl);
    CHECK(a.y.to_vector() == b.y.to_vector());
    CHECK(normalized_error(rm1, rm2) < 1e-15);
    CHECK(normalized_error(rv1, rv2) < 1e-15);
    auto ga = ops::batchnorm2d_act_bwd(gy, a.y, x, gamma, a.save_mean, a.save_invstd, true, training, true);
    auto gb =
        ops::batchnorm2d_act_bwd(gy, b.y, x.contiguous(cl), gamma, b.save_mean, b.save_invstd, true, training, true);
    CHECK(gb.gx.suggest_memory_format() == cl);
    CHECK(gb.gresidual.suggest_memory_format() == cl);
    CHECK(normalized_error(ga.gx, gb.gx) < 1e-13);
    CHECK(normalized_error(ga.ggamma, gb.ggamma) < 1e-13);
    CHECK(normalized_error(ga.gbeta, gb.gbeta) < 1e-13);
    CHECK(ga.gresidual.to_vector() == gb.gresidual.to_vector());
  }
}

TEST_CASE("batchnorm2d_act: checks name the op and the shapes", "[grad]") {
  Tensor x = randn64({2, 3, 2, 2}, 270), rm = Tensor::zeros({3}, DType::f64), rv = Tensor::ones({3}, DType::f64);
  CHECK_THROWS_WITH(
      ops::batchnorm2d_act(x, randn64({2, 3, 2, 1}, 271), Tensor(), Tensor(), rm, rv, true, true, 0.1, 1e-5),
      Catch::Contains("batchnorm2d_act") && Catch::Contains("residual") && Catch::Contains("[2, 3, 2, 1]"));
  CHECK_THROWS_WITH(ops::batchnorm2d_act(x, Tensor(), randn64({4}, 272), Tensor(), rm, rv, true, true, 0.1, 1e-5),
                    Catch::Contains("gamma must have shape [3]"));
  CHECK_THROWS_WITH(ops::batchnorm2d_act(x, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), false, false, 0.1, 1e-5),
                    Catch::Contains("running_mean is required"));
  CHECK_THROWS_WITH(ops::batchnorm2d_act(x, Tensor(), Tensor::ones({3}), Tensor(), rm, rv, false, true, 0.1, 1e-5),
                    Catch::Contains("f32"));
}

TEST_CASE("batchnorm2d_act eval: the running statistics are constants of the backward pass", "[grad]") {
  Tensor rm = randn64({3}, 240), rv = uniform64({3}, 241, 0.5, 2.0);
  std::vector<double> rm0 = rm.to_vector(), rv0 = rv.to_vector();
  Variable x(randn64({2, 3, 3, 3}, 242), true), gamma(randn64({3}, 243), true), beta(randn64({3}, 244), true);
  Variable r(randn64({2, 3, 3, 3}, 245), true);
  ag::sum(ag::batchnorm2d_act(x, r, gamma, beta, rm, rv, true, false, 0.1, 1e-5)).backward();
  CHECK(x.has_grad());
  CHECK(rm.to_vector() == rm0);
  CHECK(rv.to_vector() == rv0);
}
