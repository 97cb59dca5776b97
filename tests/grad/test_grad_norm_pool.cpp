// Gradient behaviour of batch norm and pooling beyond the finite-difference checks,
// which are the op-case table's (opcases/cases_norm_pool.cpp, run by test_grad_opcases.cpp).
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

TEST_CASE("batchnorm2d eval: the running statistics are constants of the backward pass", "[grad]") {
  Tensor rm = randn64({4}, 70), rv = uniform64({4}, 71, 0.5, 2.0);
  std::vector<double> rm0 = rm.to_vector(), rv0 = rv.to_vector();
  Variable x(randn64({2, 4, 3, 3}, 72), true), gamma(randn64({4}, 73), true), beta(randn64({4}, 74), true);
  ag::sum(ag::batchnorm2d(x, gamma, beta, rm, rv, false, 0.1, 1e-5)).backward();
  CHECK(x.has_grad());
  CHECK(rm.to_vector() == rm0);
  CHECK(rv.to_vector() == rv0);
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

TEST_CASE("maxpool2d gradient at a tie goes to the first maximum in scan order", "[grad]") {
  Variable x(Tensor::from_vector({0, 4, 4, 4}, {1, 1, 2, 2}, DType::f64), true);
  ag::sum(ag::maxpool2d(x, ops::Pool2dOptions{})).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0, 1, 0, 0});
}
