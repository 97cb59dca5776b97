// Gradient checks: reductions.
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {
using Vars = std::vector<Variable>;
}

GRAD_TEST(OpKind::SUM, "grad sum over axes, keepdim and all") {
  CHECK_GRAD(OpKind::SUM, [](const Vars& v) { return ag::sum(v[0], {0, 2}, true); }, {randn64({3, 4, 5}, 31)});
  CHECK_GRAD(OpKind::SUM, [](const Vars& v) { return ag::sum(v[0]); }, {randn64({3, 4}, 32).transpose(0, 1)});
}

GRAD_TEST(OpKind::MEAN, "grad mean over a negative axis") {
  CHECK_GRAD(OpKind::MEAN, [](const Vars& v) { return ag::mean(v[0], {-1}); }, {randn64({3, 7}, 33)});
}

GRAD_TEST(OpKind::MAX, "grad max: distinct values, one and two axes") {
  CHECK_GRAD(OpKind::MAX, [](const Vars& v) { return ag::max(v[0], {1}); }, {distinct64({3, 5, 2}, 34)});
  CHECK_GRAD(OpKind::MAX, [](const Vars& v) { return ag::max(v[0], {0, 2}, true); }, {distinct64({3, 5, 2}, 35)});
}

TEST_CASE("max gradient at a tie goes to the first maximum", "[grad]") {
  Variable x(Tensor::from_vector({1.0, 3.0, 3.0, 2.0}, {4}, DType::f64), true);
  ag::max(x).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0.0, 1.0, 0.0, 0.0});
}

GRAD_TEST(OpKind::VAR, "grad var with and without correction") {
  CHECK_GRAD(OpKind::VAR, [](const Vars& v) { return ag::var(v[0], {1}); }, {randn64({4, 6}, 36)});
  CHECK_GRAD(OpKind::VAR, [](const Vars& v) { return ag::var(v[0], {0, 1}, 0, true); }, {randn64({4, 6}, 37)});
}
