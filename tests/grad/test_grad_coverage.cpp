// Every differentiable op of the table has a gradient check in this executable: a
// GRAD_TEST, or a case of the op-case table with gradient checks (test_grad_opcases.cpp).
#include <iostream>

#include "test_util.h"

using namespace engine;

TEST_CASE("every differentiable op has a gradient test", "[grad][coverage]") {
  int differentiable = 0, tested = 0;
  std::string missing;
  for (int i = 0; i < kNumOps; ++i) {
    OpKind op = OpKind(i);
    if (!op_is_differentiable(op)) continue;
    ++differentiable;
    if (testing::grad_tested_ops().count(op)) {
      ++tested;
    } else {
      missing += std::string(missing.empty() ? "" : ", ") + op_name(op);
    }
  }
  std::cout << "differentiable ops: " << differentiable << ", with a gradient test: " << tested << std::endl;
  INFO("ops without a gradient test: " << missing);
  CHECK(tested == differentiable);
}
