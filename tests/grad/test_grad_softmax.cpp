// Gradient behaviour of cross-entropy beyond the finite-difference checks, which are
// the op-case table's (opcases/cases_softmax_index.cpp, run by test_grad_opcases.cpp).
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {

Tensor labels_of(const std::vector<double>& v) { return Tensor::from_vector(v, {int64_t(v.size())}, DType::i64); }
}  // namespace

TEST_CASE("cross_entropy backward scales by the incoming gradient", "[grad]") {
  Variable x(randn64({3, 4}, 111), true);
  Tensor labels = labels_of({1, 3, 0});
  Variable loss = ag::cross_entropy(x, labels, 0.2);
  loss.backward(Tensor::scalar(2.5, DType::f64));
  Tensor ref = ops::mul(ops::cross_entropy_bwd(Tensor::scalar(1.0, DType::f64), x.data(), labels,
                                               ops::cross_entropy(x.data(), labels, 0.2).lse, 0.2),
                        2.5);
  CHECK(normalized_error(x.grad(), ref) < 1e-14);
}
