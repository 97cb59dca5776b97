// Gradient checks: batch normalisation and pooling.
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {
using Vars = std::vector<Variable>;

// Training batch norm updates its running statistics on every forward; each call
// gets fresh buffers so that the finite differences see identical calls (the
// training output does not read them anyway).
GradCheckFn bn_train(double momentum, double eps) {
  return [momentum, eps](const Vars& v) {
    int64_t C = v[0].size(1);
    Tensor rm = Tensor::zeros({C}, DType::f64), rv = Tensor::ones({C}, DType::f64);
    return ag::batchnorm2d(v[0], v[1], v[2], rm, rv, true, momentum, eps);
  };
}
}  // namespace

GRAD_TEST(OpKind::BATCHNORM2D, "grad batchnorm2d training: x, gamma, beta, odd sizes, batch 1") {
  CHECK_GRAD(OpKind::BATCHNORM2D, bn_train(0.1, 1e-5),
             {randn64({3, 5, 3, 2}, 60, 0.5, 1.5), randn64({5}, 61), randn64({5}, 62)});
  // Batch 1 with H*W > 1: the statistics come from one image's plane.
  CHECK_GRAD(OpKind::BATCHNORM2D, bn_train(0.1, 1e-5),
             {randn64({1, 3, 3, 5}, 63), randn64({3}, 64), randn64({3}, 65)});
  // H = 1, a non-contiguous x (permuted) and a large eps.
  CHECK_GRAD(OpKind::BATCHNORM2D, bn_train(0.5, 0.1),
             {randn64({2, 7, 1, 4}, 66).permute({3, 1, 2, 0}), randn64({7}, 67), randn64({7}, 68)});
}

GRAD_TEST(OpKind::BATCHNORM2D, "grad batchnorm2d eval: running statistics are constants") {
  Tensor rm = randn64({4}, 70), rv = uniform64({4}, 71, 0.5, 2.0);
  std::vector<double> rm0 = rm.to_vector(), rv0 = rv.to_vector();
  CHECK_GRAD(OpKind::BATCHNORM2D,
             [rm, rv](const Vars& v) { return ag::batchnorm2d(v[0], v[1], v[2], rm, rv, false, 0.1, 1e-5); },
             {randn64({2, 4, 3, 3}, 72), randn64({4}, 73), randn64({4}, 74)});
  CHECK(rm.to_vector() == rm0);
  CHECK(rv.to_vector() == rv0);
}

GRAD_TEST(OpKind::BATCHNORM2D, "grad batchnorm2d without affine parameters, training and eval") {
  CHECK_GRAD(OpKind::BATCHNORM2D,
             [](const Vars& v) {
               Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
               return ag::batchnorm2d(v[0], Variable(), Variable(), rm, rv, true, 0.1, 1e-5);
             },
             {randn64({3, 2, 2, 3}, 75)});
  Tensor rm = randn64({2}, 76), rv = uniform64({2}, 77, 0.5, 2.0);
  CHECK_GRAD(OpKind::BATCHNORM2D,
             [rm, rv](const Vars& v) { return ag::batchnorm2d(v[0], Variable(), Variable(), rm, rv, false, 0.1, 1e-5); },
             {randn64({1, 2, 1, 1}, 78)});
}

TEST_CASE("batchnorm2d: parameter gradients accumulate, running stats move in training", "[grad]") {
  Variable x(randn64({4, 3, 2, 2}, 79), false), gamma(randn64({3}, 80), true), beta(randn64({3}, 81), true);
  Tensor rm = Tensor::zeros({3}, DType::f64), rv = Tensor::ones({3}, DType::f64);
  ag::sum(ag::batchnorm2d(x, gamma, beta, rm, rv, true, 0.1, 1e-5)).backward();
  // d sum(y) / d beta = N*H*W per channel; d sum(y) / d gamma = sum(xhat) = 0.
  for (double g : beta.grad().to_vector()) CHECK(g == Approx(16.0));
  for (double g : gamma.grad().to_vector()) CHECK(g == Approx(0.0).margin(1e-12));
  ag::sum(ag::batchnorm2d(x, gamma, beta, rm, rv, true, 0.1, 1e-5)).backward();
  for (double g : beta.grad().to_vector()) CHECK(g == Approx(32.0));
  bool moved = false;
  for (double m : rm.to_vector()) moved = moved || m != 0.0;
  CHECK(moved);
}

GRAD_TEST(OpKind::MAXPOOL2D, "grad maxpool2d: distinct values, stride 2, padding, overlapping windows") {
  CHECK_GRAD(OpKind::MAXPOOL2D, [](const Vars& v) { return ag::maxpool2d(v[0], ops::Pool2dOptions{}); },
             {distinct64({2, 3, 4, 6}, 90)});
  CHECK_GRAD(OpKind::MAXPOOL2D,
             [](const Vars& v) { return ag::maxpool2d(v[0], ops::Pool2dOptions{3, 3, 2, 2, 1, 1, true}); },
             {distinct64({2, 2, 7, 5}, 91)});
  // Overlapping 3x3 windows with stride 2, no padding, batch 1, non-contiguous input.
  CHECK_GRAD(OpKind::MAXPOOL2D,
             [](const Vars& v) { return ag::maxpool2d(v[0], ops::Pool2dOptions{3, 3, 2, 2, 0, 0, true}); },
             {distinct64({1, 7, 9, 2}, 92).permute({0, 3, 2, 1})});
}

TEST_CASE("maxpool2d gradient at a tie goes to the first maximum in scan order", "[grad]") {
  Variable x(Tensor::from_vector({0, 4, 4, 4}, {1, 1, 2, 2}, DType::f64), true);
  ag::sum(ag::maxpool2d(x, ops::Pool2dOptions{})).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0, 1, 0, 0});
}

GRAD_TEST(OpKind::AVGPOOL2D, "grad avgpool2d: padding, both count_include_pad settings") {
  for (bool include : {true, false}) {
    INFO("count_include_pad " << include);
    CHECK_GRAD(OpKind::AVGPOOL2D,
               [include](const Vars& v) { return ag::avgpool2d(v[0], ops::Pool2dOptions{3, 3, 2, 2, 1, 1, include}); },
               {randn64({2, 3, 5, 6}, 100)});
    // Batch 1, a [1, 2, 4, 7] view with strided rows.
    CHECK_GRAD(OpKind::AVGPOOL2D,
               [include](const Vars& v) { return ag::avgpool2d(v[0], ops::Pool2dOptions{2, 3, 1, 2, 1, 1, include}); },
               {randn64({1, 2, 4, 9}, 101).slice(3, 1, 8)});
  }
  CHECK_GRAD(OpKind::AVGPOOL2D, [](const Vars& v) { return ag::avgpool2d(v[0], ops::Pool2dOptions{}); },
             {randn64({2, 6, 4, 3}, 102).permute({0, 3, 1, 2})});
}

GRAD_TEST(OpKind::GLOBAL_AVGPOOL, "grad global_avgpool: odd sizes, batch 1, non-contiguous") {
  CHECK_GRAD(OpKind::GLOBAL_AVGPOOL, [](const Vars& v) { return ag::global_avgpool(v[0]); },
             {randn64({3, 5, 3, 7}, 110)});
  CHECK_GRAD(OpKind::GLOBAL_AVGPOOL, [](const Vars& v) { return ag::global_avgpool(v[0]); },
             {randn64({1, 4, 2, 5}, 111).permute({0, 1, 3, 2})});
  CHECK_GRAD(OpKind::GLOBAL_AVGPOOL, [](const Vars& v) { return ag::global_avgpool(v[0]); },
             {randn64({2, 3, 1, 1}, 112)});
}
