// Gradient checks: matmul and linear.
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {
using Vars = std::vector<Variable>;

Variable mm(const Vars& v) { return ag::matmul(v[0], v[1]); }
}  // namespace

GRAD_TEST(OpKind::MATMUL, "grad matmul: 2-D, odd sizes") {
  CHECK_GRAD(OpKind::MATMUL, mm, {randn64({3, 5}, 1), randn64({5, 2}, 2)});
}

TEST_CASE("grad matmul: batched", "[grad]") {
  CHECK_GRAD(OpKind::MATMUL, mm, {randn64({2, 3, 4}, 3), randn64({2, 4, 2}, 4)});
}

TEST_CASE("grad matmul: broadcast batch dims", "[grad]") {
  CHECK_GRAD(OpKind::MATMUL, mm, {randn64({2, 1, 3, 2}, 5), randn64({3, 2, 4}, 6)});
  // A matrix shared by a batch, on either side.
  CHECK_GRAD(OpKind::MATMUL, mm, {randn64({3, 2, 4}, 7), randn64({4, 3}, 8)});
  CHECK_GRAD(OpKind::MATMUL, mm, {randn64({2, 3}, 9), randn64({2, 3, 4}, 10)});
}

TEST_CASE("grad matmul: 1-D operands", "[grad]") {
  CHECK_GRAD(OpKind::MATMUL, mm, {randn64({4}, 11), randn64({4, 3}, 12)});
  CHECK_GRAD(OpKind::MATMUL, mm, {randn64({2, 3, 4}, 13), randn64({4}, 14)});
  CHECK_GRAD(OpKind::MATMUL, mm, {randn64({5}, 15), randn64({5}, 16)});
}

TEST_CASE("grad matmul: non-contiguous inputs", "[grad]") {
  Tensor a = randn64({4, 3}, 17).transpose(0, 1);         // [3, 4] transposed view
  Tensor b = randn64({4, 7}, 18).slice(1, 1, 7, 2);       // [4, 3], column stride 2
  CHECK_GRAD(OpKind::MATMUL, mm, {a, b});
  CHECK_GRAD(OpKind::MATMUL, mm, {randn64({2, 4, 3}, 19).permute({1, 0, 2}), randn64({3, 2}, 20)});
}

GRAD_TEST(OpKind::LINEAR, "grad linear: with bias") {
  CHECK_GRAD(OpKind::LINEAR, [](const Vars& v) { return ag::linear(v[0], v[1], v[2]); },
             {randn64({3, 5}, 21), randn64({4, 5}, 22), randn64({4}, 23)});
}

TEST_CASE("grad linear: without bias, batch 1", "[grad]") {
  CHECK_GRAD(OpKind::LINEAR, [](const Vars& v) { return ag::linear(v[0], v[1], Variable()); },
             {randn64({1, 5}, 24), randn64({3, 5}, 25)});
  CHECK_GRAD(OpKind::LINEAR, [](const Vars& v) { return ag::linear(v[0], v[1], v[2]); },
             {randn64({1, 2}, 26), randn64({3, 2}, 27), randn64({3}, 28)});
}

TEST_CASE("linear gradients accumulate into parameters", "[grad]") {
  Variable x(randn64({2, 3}, 29), false), w(randn64({4, 3}, 30), true), b(randn64({4}, 31), true);
  ag::sum(ag::linear(x, w, b)).backward();
  ag::sum(ag::linear(x, w, b)).backward();
  std::vector<double> gb = b.grad().to_vector();
  for (double g : gb) CHECK(g == Approx(4.0));  // two rows, two passes
  CHECK(!x.has_grad());
}
