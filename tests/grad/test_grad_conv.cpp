// Gradient behaviour of conv2d beyond the finite-difference checks, which are the
// op-case table's (opcases/cases_linalg_conv.cpp, run by test_grad_opcases.cpp).
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {

ops::Conv2dOptions opts(int64_t stride, int64_t pad, int64_t dil, int64_t groups) {
  ops::Conv2dOptions o;
  o.stride_h = o.stride_w = stride;
  o.pad_h = o.pad_w = pad;
  o.dil_h = o.dil_w = dil;
  o.groups = groups;
  return o;
}
}  // namespace

TEST_CASE("conv2d bias gradient sums over N, P and Q and accumulates", "[grad]") {
  Variable x(randn64({2, 1, 4, 4}, 17), false), w(randn64({3, 1, 3, 3}, 18), true), b(randn64({3}, 19), true);
  ag::sum(ag::conv2d(x, w, b, opts(1, 0, 1, 1))).backward();
  ag::sum(ag::conv2d(x, w, b, opts(1, 0, 1, 1))).backward();
  for (double g : b.grad().to_vector()) CHECK(g == Approx(2.0 * 2 * 2 * 2));  // 2 passes x N=2 x P*Q=4
  CHECK(!x.has_grad());
}
