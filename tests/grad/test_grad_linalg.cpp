// Gradient behaviour of matmul and linear beyond the finite-difference checks, which
// are the op-case table's (opcases/cases_linalg_conv.cpp, run by test_grad_opcases.cpp).
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

TEST_CASE("linear gradients accumulate into parameters", "[grad]") {
  Variable x(randn64({2, 3}, 29), false), w(randn64({4, 3}, 30), true), b(randn64({4}, 31), true);
  ag::sum(ag::linear(x, w, b)).backward();
  ag::sum(ag::linear(x, w, b)).backward();
  std::vector<double> gb = b.grad().to_vector();
  for (double g : gb) CHECK(g == Approx(4.0));  // two rows, two passes
  CHECK(!x.has_grad());
}
