// Gradient checks: conv2d (input, weight and bias). Inputs stay small: every element
// costs two forward passes.
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {
using Vars = std::vector<Variable>;

ops::Conv2dOptions opts(int64_t stride, int64_t pad, int64_t dil, int64_t groups) {
  ops::Conv2dOptions o;
  o.stride_h = o.stride_w = stride;
  o.pad_h = o.pad_w = pad;
  o.dil_h = o.dil_w = dil;
  o.groups = groups;
  return o;
}

GradCheckFn conv_fn(const ops::Conv2dOptions& o) {
  return [o](const Vars& v) { return ag::conv2d(v[0], v[1], v.size() > 2 ? v[2] : Variable(), o); };
}
}  // namespace

GRAD_TEST(OpKind::CONV2D, "grad conv2d: x, w and bias, stride 2, padding 1, odd sizes") {
  CHECK_GRAD(OpKind::CONV2D, conv_fn(opts(2, 1, 1, 1)),
             {randn64({2, 3, 5, 7}, 1), randn64({4, 3, 3, 3}, 2), randn64({4}, 3)});
}

TEST_CASE("grad conv2d: dilation 2, no bias", "[grad]") {
  CHECK_GRAD(OpKind::CONV2D, conv_fn(opts(1, 2, 2, 1)), {randn64({2, 2, 5, 4}, 4), randn64({3, 2, 3, 2}, 5)});
}

TEST_CASE("grad conv2d: groups 2, batch 1", "[grad]") {
  CHECK_GRAD(OpKind::CONV2D, conv_fn(opts(1, 1, 1, 2)),
             {randn64({1, 4, 5, 5}, 6), randn64({6, 2, 3, 3}, 7), randn64({6}, 8)});
}

TEST_CASE("grad conv2d: depthwise, stride 2, dilation 2", "[grad]") {
  CHECK_GRAD(OpKind::CONV2D, conv_fn(opts(2, 2, 2, 3)),
             {randn64({2, 3, 7, 6}, 9), randn64({3, 1, 3, 3}, 10), randn64({3}, 11)});
}

TEST_CASE("grad conv2d: asymmetric stride and padding, 1x1 and non-contiguous input", "[grad]") {
  ops::Conv2dOptions o;
  o.stride_h = 2;
  o.stride_w = 3;
  o.pad_h = 0;
  o.pad_w = 2;
  CHECK_GRAD(OpKind::CONV2D, conv_fn(o), {randn64({2, 2, 6, 5}, 12), randn64({2, 2, 2, 3}, 13)});
  Tensor x = randn64({2, 3, 4, 5}, 14).permute({0, 1, 3, 2});  // [2, 3, 5, 4] view
  CHECK_GRAD(OpKind::CONV2D, conv_fn(opts(1, 0, 1, 1)), {x, randn64({2, 3, 1, 1}, 15), randn64({2}, 16)});
}

TEST_CASE("conv2d bias gradient sums over N, P and Q and accumulates", "[grad]") {
  Variable x(randn64({2, 1, 4, 4}, 17), false), w(randn64({3, 1, 3, 3}, 18), true), b(randn64({3}, 19), true);
  ag::sum(ag::conv2d(x, w, b, opts(1, 0, 1, 1))).backward();
  ag::sum(ag::conv2d(x, w, b, opts(1, 0, 1, 1))).backward();
  for (double g : b.grad().to_vector()) CHECK(g == Approx(2.0 * 2 * 2 * 2));  // 2 passes x N=2 x P*Q=4
  CHECK(!x.has_grad());
}
