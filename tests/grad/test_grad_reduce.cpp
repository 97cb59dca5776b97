// Gradient behaviour of the reductions beyond the finite-difference checks, which are
// the op-case table's (opcases/cases_reduce.cpp, run by test_grad_opcases.cpp).
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

TEST_CASE("max gradient at a tie goes to the first maximum", "[grad]") {
  Variable x(Tensor::from_vector({1.0, 3.0, 3.0, 2.0}, {4}, DType::f64), true);
  ag::max(x).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0.0, 1.0, 0.0, 0.0});
}
