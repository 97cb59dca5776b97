// Synchronised batch norm on one rank is batch norm: its forward, running statistics
// and gradients against the fused op (f64), and its own gradient check. The 2-rank
// case is in tests/mpi/test_sync_batchnorm.cpp.
#include <catch2/catch.hpp>

#include "engine/autograd/functions.h"
#include "engine/autograd/gradcheck.h"
#include "engine/dist/sync_batchnorm.h"
#include "engine/ops/functional.h"
#include "test_util.h"

using namespace engine;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return ops::max(ops::maximum(ops::sub(a, b), ops::sub(b, a))).item();
}

}  // namespace

TEST_CASE("one-rank sync_batchnorm2d equals batchnorm2d_act: output, running statistics, gradients (f64)") {
  auto comm = dist::make_single_process();
  Tensor x = ops::randn({4, 3, 5, 2}, 11, 0, DType::f64), res = ops::randn({4, 3, 5, 2}, 11, 200, DType::f64);
  Tensor g = ops::randn({3}, 11, 400, DType::f64), b = ops::randn({3}, 11, 500, DType::f64);
  Tensor seed = ops::randn({4, 3, 5, 2}, 11, 600, DType::f64);
  for (bool relu : {false, true}) {
    INFO("relu " << relu);
    Variable x1(x.clone(), true), r1(res.clone(), true), g1(g.clone(), true), b1(b.clone(), true);
    Variable x2(x.clone(), true), r2(res.clone(), true), g2(g.clone(), true), b2(b.clone(), true);
    Tensor rm1 = Tensor::zeros({3}, DType::f64), rv1 = Tensor::ones({3}, DType::f64);
    Tensor rm2 = rm1.clone(), rv2 = rv1.clone();
    Variable y1 = dist::sync_batchnorm2d(*comm, x1, r1, g1, b1, rm1, rv1, relu, 0.1, 1e-5);
    Variable y2 = ag::batchnorm2d_act(x2, r2, g2, b2, rm2, rv2, relu, true, 0.1, 1e-5);
    CHECK(max_abs_diff(y1.data(), y2.data()) < 1e-10);
    CHECK(max_abs_diff(rm1, rm2) < 1e-12);
    CHECK(max_abs_diff(rv1, rv2) < 1e-12);
    y1.backward(seed);
    y2.backward(seed);
    CHECK(max_abs_diff(x1.grad(), x2.grad()) < 1e-10);
    CHECK(max_abs_diff(r1.grad(), r2.grad()) < 1e-10);
    CHECK(max_abs_diff(g1.grad(), g2.grad()) < 1e-10);
    CHECK(max_abs_diff(b1.grad(), b2.grad()) < 1e-10);
  }
}

TEST_CASE("sync_batchnorm2d passes the gradient check (one rank, f64)") {
  auto comm = dist::make_single_process();
  Tensor x = ops::randn({3, 2, 3, 2}, 5, 0, DType::f64), res = ops::randn({3, 2, 3, 2}, 5, 100, DType::f64);
  Tensor g = ops::randn({2}, 5, 200, DType::f64), b = ops::randn({2}, 5, 300, DType::f64);
  GradCheckResult r = gradcheck(
      [&](const std::vector<Variable>& in) {
        Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
        return dist::sync_batchnorm2d(*comm, in[0], in[1], in[2], in[3], rm, rv, false, 0.1, 1e-5);
      },
      {x, res, g, b});
  INFO(r.message);
  CHECK(r.ok);
  CHECK(r.checked > 40);
}
