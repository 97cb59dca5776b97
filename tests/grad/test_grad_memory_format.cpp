// Gradients through a channels-last chain keep the format and equal the NCHW ones. The
// finite-difference checks of conv2d, batch norm and the pools on channels-last inputs
// are the op-case table's (opcases/, run by test_grad_opcases.cpp).
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {
constexpr MemoryFormat kCL = MemoryFormat::ChannelsLast;

Tensor cl(const Tensor& t) { return t.contiguous(kCL); }

}  // namespace

TEST_CASE("a channels-last chain keeps its gradients channels-last", "[grad][memory_format]") {
  ops::Conv2dOptions o;
  o.pad_h = o.pad_w = 1;
  Variable x(cl(randn64({2, 3, 6, 6}, 60)), true), w(randn64({4, 3, 3, 3}, 61), true);
  Variable gamma(randn64({4}, 62), true), beta(randn64({4}, 63), true);
  Tensor rm = Tensor::zeros({4}, DType::f64), rv = Tensor::ones({4}, DType::f64);
  ops::Pool2dOptions po;
  Variable h = ag::relu(ag::batchnorm2d(ag::conv2d(x, w, Variable(), o), gamma, beta, rm, rv, true, 0.1, 1e-5));
  Variable p = ag::maxpool2d(h, po);
  CHECK(h.data().suggest_memory_format() == kCL);
  CHECK(p.data().suggest_memory_format() == kCL);
  ag::sum(ag::global_avgpool(p)).backward();
  REQUIRE(x.has_grad());
  CHECK(x.grad().suggest_memory_format() == kCL);
  CHECK(w.grad().is_contiguous());

  // The same chain on the row-major copy gives the same gradients.
  Variable x2(x.data().contiguous(), true), w2(w.data(), true), gamma2(gamma.data(), true), beta2(beta.data(), true);
  Tensor rm2 = Tensor::zeros({4}, DType::f64), rv2 = Tensor::ones({4}, DType::f64);
  Variable h2 = ag::relu(ag::batchnorm2d(ag::conv2d(x2, w2, Variable(), o), gamma2, beta2, rm2, rv2, true, 0.1, 1e-5));
  ag::sum(ag::global_avgpool(ag::maxpool2d(h2, po))).backward();
  CHECK(normalized_error(x.grad(), x2.grad()) < 1e-12);
  CHECK(normalized_error(w.grad(), w2.grad()) < 1e-12);
  CHECK(normalized_error(gamma.grad(), gamma2.grad()) < 1e-12);
}
