// Gradient checks: batch normalisation with a fused residual-add and relu epilogue, every
// variant (residual on/off, relu on/off, training and eval, without affine parameters).
// With relu, the inputs are built so that every pre-activation is at least 0.05 away
// from the kink, which the finite-difference step cannot cross.
#include <algorithm>
#include <cmath>

#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {
using Vars = std::vector<Variable>;

// Distinct values moved at least 0.2 away from zero.
Tensor away_from_zero(const Shape& s, uint64_t seed) {
  std::vector<double> v = distinct64(s, seed).to_vector();
  for (double& e : v) e += e >= 0 ? 0.2 : -0.2;
  return Tensor::from_vector(v, s, DType::f64);
}

// The residual r with BN(x) + r = t: the fused op's pre-activation is then t.
Tensor residual_for(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& rm, const Tensor& rv,
                    bool training, const Tensor& t) {
  Tensor y = ops::batchnorm2d(x, gamma, beta, rm.clone(), rv.clone(), training, 0.1, 1e-5).y;
  return ops::sub(t, y);
}

// beta per channel so that gamma * xhat + beta changes sign halfway between the two
// middle values of the channel (xhat from the batch statistics, or from rm / rv in eval).
Tensor beta_between(const Tensor& x, const Tensor& gamma, const Tensor& rm, const Tensor& rv, bool training) {
  Tensor xc = x.contiguous();
  int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  std::vector<double> xv = xc.to_vector(), g = gamma.to_vector(), b(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    std::vector<double> ch;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) ch.push_back(xv[static_cast<size_t>((n * C + c) * HW + i)]);
    double mean = 0, var = 0;
    if (training) {
      for (double e : ch) mean += e;
      mean /= double(ch.size());
      for (double e : ch) var += (e - mean) * (e - mean);
      var /= double(ch.size());
    } else {
      mean = rm.to_vector()[static_cast<size_t>(c)];
      var = rv.to_vector()[static_cast<size_t>(c)];
    }
    std::sort(ch.begin(), ch.end());
    size_t k = ch.size() / 2;
    double mid = 0.5 * (ch[k - 1] + ch[k]);
    b[static_cast<size_t>(c)] = -g[static_cast<size_t>(c)] * (mid - mean) / std::sqrt(var + 1e-5);
  }
  return Tensor::from_vector(b, {C}, DType::f64);
}

// Fresh running statistics per call, so that every finite-difference evaluation sees the same call.
GradCheckFn bn_act_train(bool relu, bool with_residual) {
  return [relu, with_residual](const Vars& v) {
    int64_t C = v[0].size(1);
    Tensor rm = Tensor::zeros({C}, DType::f64), rv = Tensor::ones({C}, DType::f64);
    return ag::batchnorm2d_act(v[0], with_residual ? v[3] : Variable(), v[1], v[2], rm, rv, relu, true, 0.1, 1e-5);
  };
}

// Gammas kept away from zero, so that the pre-activations spread.
Tensor gammas(int64_t C, uint64_t seed) { return away_from_zero({C}, seed); }

}  // namespace

GRAD_TEST(OpKind::BATCHNORM2D_ACT, "grad batchnorm2d_act training, no relu, no residual: odd sizes, batch 1") {
  CHECK_GRAD(OpKind::BATCHNORM2D_ACT, bn_act_train(false, false),
             {randn64({3, 5, 3, 2}, 200, 0.5, 1.5), randn64({5}, 201), randn64({5}, 202)});
  CHECK_GRAD(OpKind::BATCHNORM2D_ACT, bn_act_train(false, false),
             {randn64({1, 3, 3, 5}, 203), randn64({3}, 204), randn64({3}, 205)});
  CHECK_GRAD(OpKind::BATCHNORM2D_ACT, bn_act_train(false, false),
             {randn64({2, 7, 1, 4}, 206).permute({3, 1, 2, 0}), randn64({7}, 207), randn64({7}, 208)});
}

GRAD_TEST(OpKind::BATCHNORM2D_ACT, "grad batchnorm2d_act training, residual, no relu: non-contiguous residual") {
  CHECK_GRAD(OpKind::BATCHNORM2D_ACT, bn_act_train(false, true),
             {randn64({3, 4, 3, 3}, 210), randn64({4}, 211), randn64({4}, 212), randn64({3, 4, 3, 3}, 213)});
  CHECK_GRAD(OpKind::BATCHNORM2D_ACT, bn_act_train(false, true),
             {randn64({2, 3, 5, 1}, 214), randn64({3}, 215), randn64({3}, 216),
              randn64({5, 3, 2, 1}, 217).permute({2, 1, 0, 3})});
}

GRAD_TEST(OpKind::BATCHNORM2D_ACT, "grad batchnorm2d_act training, relu, no residual: pre-activations off the kink") {
  for (Shape s : {Shape{3, 4, 3, 2}, Shape{1, 3, 5, 3}, Shape{2, 5, 1, 3}}) {
    int64_t C = s[1];
    Tensor x = distinct64(s, 220 + uint64_t(C)), gamma = gammas(C, 221);
    Tensor beta = beta_between(x, gamma, Tensor(), Tensor(), true);
    CHECK_GRAD(OpKind::BATCHNORM2D_ACT, bn_act_train(true, false), {x, gamma, beta});
  }
}

GRAD_TEST(OpKind::BATCHNORM2D_ACT, "grad batchnorm2d_act training, residual and relu: odd sizes, batch 1") {
  for (Shape s : {Shape{3, 4, 3, 3}, Shape{1, 2, 3, 5}, Shape{5, 3, 1, 1}}) {
    int64_t C = s[1];
    Tensor x = randn64(s, 230 + uint64_t(C), 0.3, 1.2), gamma = randn64({C}, 231), beta = randn64({C}, 232);
    Tensor r = residual_for(x, gamma, beta, Tensor::zeros({C}, DType::f64), Tensor::ones({C}, DType::f64), true,
                            away_from_zero(s, 233));
    CHECK_GRAD(OpKind::BATCHNORM2D_ACT, bn_act_train(true, true), {x, gamma, beta, r});
  }
}

GRAD_TEST(OpKind::BATCHNORM2D_ACT, "grad batchnorm2d_act eval: running statistics constant, every variant") {
  Shape s = {2, 3, 3, 3};
  Tensor rm = randn64({3}, 240), rv = uniform64({3}, 241, 0.5, 2.0);
  std::vector<double> rm0 = rm.to_vector(), rv0 = rv.to_vector();
  Tensor x = distinct64(s, 242), gamma = gammas(3, 243);
  for (bool relu : {false, true})
    for (bool with_res : {false, true}) {
      Tensor beta = relu && !with_res ? beta_between(x, gamma, rm, rv, false) : randn64({3}, 244);
      std::vector<Tensor> in = {x, gamma, beta};
      if (with_res) in.push_back(relu ? residual_for(x, gamma, beta, rm, rv, false, away_from_zero(s, 245))
                                      : randn64(s, 246));
      INFO("relu " << relu << ", residual " << with_res);
      CHECK_GRAD(OpKind::BATCHNORM2D_ACT,
                 [rm, rv, relu, with_res](const Vars& v) {
                   return ag::batchnorm2d_act(v[0], with_res ? v[3] : Variable(), v[1], v[2], rm, rv, relu, false,
                                              0.1, 1e-5);
                 },
                 in);
    }
  CHECK(rm.to_vector() == rm0);
  CHECK(rv.to_vector() == rv0);
}

GRAD_TEST(OpKind::BATCHNORM2D_ACT, "grad batchnorm2d_act without affine parameters, residual and relu") {
  Shape s = {3, 2, 2, 3};
  Tensor x = randn64(s, 250);
  Tensor one = Tensor::ones({2}, DType::f64), zero = Tensor::zeros({2}, DType::f64);
  Tensor r = residual_for(x, Tensor(), Tensor(), zero, one, true, away_from_zero(s, 251));
  CHECK_GRAD(OpKind::BATCHNORM2D_ACT,
             [](const Vars& v) {
               Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
               return ag::batchnorm2d_act(v[0], v[1], Variable(), Variable(), rm, rv, true, true, 0.1, 1e-5);
             },
             {x, r});
}

TEST_CASE("batchnorm2d_act equals relu(batchnorm2d(x) + residual): output, running statistics, gradients",
          "[grad]") {
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

GRAD_TEST(OpKind::BATCHNORM2D_ACT, "grad batchnorm2d_act on channels-last inputs, residual and relu") {
  Shape s = {2, 3, 3, 2};
  Tensor x = randn64(s, 280, 0.1, 1.1), gamma = randn64({3}, 281), beta = randn64({3}, 282);
  Tensor r = residual_for(x, gamma, beta, Tensor::zeros({3}, DType::f64), Tensor::ones({3}, DType::f64), true,
                          away_from_zero(s, 283));
  CHECK_GRAD(OpKind::BATCHNORM2D_ACT, bn_act_train(true, true),
             {x.contiguous(MemoryFormat::ChannelsLast), gamma, beta, r.contiguous(MemoryFormat::ChannelsLast)});
}

TEST_CASE("batchnorm2d_act keeps a channels-last input's format and gives the NCHW results", "[grad]") {
  Shape s = {3, 5, 4, 3};
  Tensor x = randn64(s, 290), r = randn64(s, 291), gamma = randn64({5}, 292), beta = randn64({5}, 293);
  Tensor gy = randn64(s, 294);
  MemoryFormat cl = MemoryFormat::ChannelsLast;
  for (bool training : {true, false}) {
    Tensor rm1 = randn64({5}, 295), rv1 = uniform64({5}, 296, 0.5, 2.0), rm2 = rm1.clone(), rv2 = rv1.clone();
    auto a = ops::batchnorm2d_act(x, r, gamma, beta, rm1, rv1, true, training, 0.1, 1e-5);
    auto b = ops::batchnorm2d_act(x.contiguous(cl), r.contiguous(cl), gamma, beta, rm2, rv2, true, training, 0.1,
                                  1e-5);
    CHECK(b.y.suggest_memory_format() == cl);
    CHECK(a.y.to_vector() == b.y.to_vector());
    CHECK(normalized_error(rm1, rm2) < 1e-15);
    CHECK(normalized_error(rv1, rv2) < 1e-15);
    auto ga = ops::batchnorm2d_act_bwd(gy, a.y, x, gamma, a.save_mean, a.save_invstd, true, training, true);
    auto gb = ops::batchnorm2d_act_bwd(gy, b.y, x.contiguous(cl), gamma, b.save_mean, b.save_invstd, true, training,
                                       true);
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
  CHECK_THROWS_WITH(ops::batchnorm2d_act(x, randn64({2, 3, 2, 1}, 271), Tensor(), Tensor(), rm, rv, true, true, 0.1,
                                         1e-5),
                    Catch::Contains("batchnorm2d_act") && Catch::Contains("residual") &&
                        Catch::Contains("[2, 3, 2, 1]"));
  CHECK_THROWS_WITH(ops::batchnorm2d_act(x, Tensor(), randn64({4}, 272), Tensor(), rm, rv, true, true, 0.1, 1e-5),
                    Catch::Contains("gamma must have shape [3]"));
  CHECK_THROWS_WITH(ops::batchnorm2d_act(x, Tensor(), Tensor(), Tensor(), Tensor(), Tensor(), false, false, 0.1, 1e-5),
                    Catch::Contains("running_mean is required"));
  CHECK_THROWS_WITH(ops::batchnorm2d_act(x, Tensor(), Tensor::ones({3}), Tensor(), rm, rv, false, true, 0.1, 1e-5),
                    Catch::Contains("f32"));
}
