// Gradient behaviour of the elementwise family beyond the finite-difference checks,
// which are the op-case table's (opcases/cases_elementwise.cpp, run by test_grad_opcases.cpp).
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

TEST_CASE("relu gradient at exactly 0 is 0", "[grad]") {
  Variable x(Tensor::from_vector({-1.0, 0.0, 2.0}, {3}, DType::f64), true);
  ag::sum(ag::relu(x)).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0.0, 0.0, 1.0});
}
