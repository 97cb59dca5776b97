// Gradient checks: elementwise family and views.
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {
using Vars = std::vector<Variable>;
}

GRAD_TEST(OpKind::ADD, "grad add: broadcasting [3,1,5] + [4,1]") {
  CHECK_GRAD(OpKind::ADD, [](const Vars& v) { return ag::add(v[0], v[1]); },
             {randn64({3, 1, 5}, 1), randn64({4, 1}, 2)});
}

GRAD_TEST(OpKind::SUB, "grad sub: broadcasting and a non-contiguous input") {
  Tensor a = randn64({5, 3}, 3).transpose(0, 1);  // [3,5] view, not contiguous
  CHECK_GRAD(OpKind::SUB, [](const Vars& v) { return ag::sub(v[0], v[1]); }, {a, randn64({5}, 4)});
}

GRAD_TEST(OpKind::MUL, "grad mul: broadcasting, batch 1") {
  CHECK_GRAD(OpKind::MUL, [](const Vars& v) { return ag::mul(v[0], v[1]); },
             {randn64({1, 7}, 5), randn64({3, 1}, 6)});
}

GRAD_TEST(OpKind::DIV, "grad div: denominators away from 0") {
  CHECK_GRAD(OpKind::DIV, [](const Vars& v) { return ag::div(v[0], v[1]); },
             {randn64({2, 3}, 7), uniform64({3}, 8, 0.5, 2.0)});
}

GRAD_TEST(OpKind::POW, "grad pow: positive base, tensor exponent") {
  GradCheckOptions o;
  o.tol = 1e-5;
  CHECK_GRAD(OpKind::POW, [](const Vars& v) { return ag::pow(v[0], v[1]); },
             {uniform64({4, 3}, 9, 0.5, 2.0), uniform64({4, 1}, 10, -1.5, 2.5)}, o);
}

GRAD_TEST(OpKind::MAXIMUM, "grad maximum: distinct values") {
  Tensor ab = distinct64({2, 3, 4}, 11);
  CHECK_GRAD(OpKind::MAXIMUM, [](const Vars& v) { return ag::maximum(v[0], v[1]); },
             {ab.select(0, 0), ab.select(0, 1)});
}

GRAD_TEST(OpKind::WHERE, "grad where: both branches, broadcast condition") {
  Tensor cond = Tensor::from_vector({1, 0, 1, 1, 0}, {5}, DType::u8);
  CHECK_GRAD(OpKind::WHERE, [cond](const Vars& v) { return ag::where(cond, v[0], v[1]); },
             {randn64({3, 5}, 12), randn64({3, 1}, 13)});
}

GRAD_TEST(OpKind::NEG, "grad neg") {
  CHECK_GRAD(OpKind::NEG, [](const Vars& v) { return ag::neg(v[0]); }, {randn64({7}, 14)});
}

GRAD_TEST(OpKind::EXP, "grad exp") {
  CHECK_GRAD(OpKind::EXP, [](const Vars& v) { return ag::exp(v[0]); }, {randn64({3, 5}, 15)});
}

GRAD_TEST(OpKind::LOG, "grad log") {
  CHECK_GRAD(OpKind::LOG, [](const Vars& v) { return ag::log(v[0]); }, {uniform64({3, 5}, 16, 0.3, 3.0)});
}

GRAD_TEST(OpKind::SQRT, "grad sqrt") {
  CHECK_GRAD(OpKind::SQRT, [](const Vars& v) { return ag::sqrt(v[0]); }, {uniform64({9}, 17, 0.3, 3.0)});
}

GRAD_TEST(OpKind::RSQRT, "grad rsqrt") {
  CHECK_GRAD(OpKind::RSQRT, [](const Vars& v) { return ag::rsqrt(v[0]); }, {uniform64({9}, 18, 0.3, 3.0)});
}

GRAD_TEST(OpKind::RELU, "grad relu: kink window at 0") {
  GradCheckOptions o;
  o.kinks = {0.0};
  o.kink_window = 1e-3;
  CHECK_GRAD(OpKind::RELU, [](const Vars& v) { return ag::relu(v[0]); }, {randn64({4, 6}, 19)}, o);
}

TEST_CASE("relu gradient at exactly 0 is 0", "[grad]") {
  Variable x(Tensor::from_vector({-1.0, 0.0, 2.0}, {3}, DType::f64), true);
  ag::sum(ag::relu(x)).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0.0, 0.0, 1.0});
}

GRAD_TEST(OpKind::GELU, "grad gelu") {
  CHECK_GRAD(OpKind::GELU, [](const Vars& v) { return ag::gelu(v[0]); }, {randn64({4, 5}, 20, 0, 2)});
}

GRAD_TEST(OpKind::SIGMOID, "grad sigmoid") {
  CHECK_GRAD(OpKind::SIGMOID, [](const Vars& v) { return ag::sigmoid(v[0]); }, {randn64({11}, 21, 0, 2)});
}

GRAD_TEST(OpKind::TANH, "grad tanh") {
  CHECK_GRAD(OpKind::TANH, [](const Vars& v) { return ag::tanh(v[0]); }, {randn64({11}, 22)});
}

GRAD_TEST(OpKind::CLAMP, "grad clamp: kinks at both bounds") {
  GradCheckOptions o;
  o.kinks = {-0.5, 0.7};
  o.kink_window = 1e-3;
  CHECK_GRAD(OpKind::CLAMP, [](const Vars& v) { return ag::clamp(v[0], -0.5, 0.7); }, {randn64({5, 5}, 23)}, o);
}

GRAD_TEST(OpKind::RESHAPE, "grad reshape of a non-contiguous input") {
  Tensor x = randn64({4, 6}, 24).transpose(0, 1);
  CHECK_GRAD(OpKind::RESHAPE, [](const Vars& v) { return ag::mul(ag::reshape(v[0], {3, 8}), ag::reshape(v[0], {3, 8})); },
             {x});
}

GRAD_TEST(OpKind::PERMUTE, "grad permute") {
  CHECK_GRAD(OpKind::PERMUTE, [](const Vars& v) { return ag::permute(v[0], {2, 0, 1}); }, {randn64({2, 3, 4}, 25)});
}

GRAD_TEST(OpKind::SLICE, "grad slice with step") {
  CHECK_GRAD(OpKind::SLICE, [](const Vars& v) { return ag::slice(v[0], 1, 1, 7, 2); }, {randn64({3, 8}, 26)});
}

GRAD_TEST(OpKind::EXPAND, "grad expand") {
  CHECK_GRAD(OpKind::EXPAND, [](const Vars& v) { return ag::expand(v[0], {4, 3, 5}); }, {randn64({3, 1}, 27)});
}

GRAD_TEST(OpKind::COPY, "grad copy (contiguous of a transposed view)") {
  CHECK_GRAD(OpKind::COPY, [](const Vars& v) { return ag::contiguous(ag::transpose(v[0], 0, 1)); },
             {randn64({3, 4}, 28)});
}
