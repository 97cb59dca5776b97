// Gradient checks: softmax, log-softmax and cross-entropy.
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {
using Vars = std::vector<Variable>;

Tensor labels_of(const std::vector<double>& v) {
  return Tensor::from_vector(v, {int64_t(v.size())}, DType::i64);
}
}  // namespace

GRAD_TEST(OpKind::SOFTMAX, "grad softmax: middle axis, last axis of a transposed view, batch 1") {
  CHECK_GRAD(OpKind::SOFTMAX, [](const Vars& v) { return ag::softmax(v[0], 1); }, {randn64({3, 5, 2}, 101)});
  CHECK_GRAD(OpKind::SOFTMAX, [](const Vars& v) { return ag::softmax(v[0], -1); },
             {randn64({7, 4}, 102).transpose(0, 1)});
  CHECK_GRAD(OpKind::SOFTMAX, [](const Vars& v) { return ag::softmax(v[0], 0); }, {randn64({1, 3}, 103)});
}

GRAD_TEST(OpKind::LOG_SOFTMAX, "grad log_softmax: middle axis, transposed view, large inputs") {
  CHECK_GRAD(OpKind::LOG_SOFTMAX, [](const Vars& v) { return ag::log_softmax(v[0], 1); }, {randn64({2, 6, 3}, 104)});
  CHECK_GRAD(OpKind::LOG_SOFTMAX, [](const Vars& v) { return ag::log_softmax(v[0], -1); },
             {randn64({5, 3}, 105).transpose(0, 1)});
  CHECK_GRAD(OpKind::LOG_SOFTMAX, [](const Vars& v) { return ag::log_softmax(v[0], -1); },
             {randn64({2, 5}, 106, 300.0, 4.0)});
}

GRAD_TEST(OpKind::CROSS_ENTROPY, "grad cross_entropy: with and without label smoothing, batch 1, strided") {
  Tensor labels = labels_of({3, 0, 6, 3, 1});
  CHECK_GRAD(OpKind::CROSS_ENTROPY, [labels](const Vars& v) { return ag::cross_entropy(v[0], labels); },
             {randn64({5, 7}, 107)});
  CHECK_GRAD(OpKind::CROSS_ENTROPY, [labels](const Vars& v) { return ag::cross_entropy(v[0], labels, 0.1); },
             {randn64({5, 7}, 108, 0.0, 3.0)});
  Tensor one = labels_of({2});
  CHECK_GRAD(OpKind::CROSS_ENTROPY, [one](const Vars& v) { return ag::cross_entropy(v[0], one, 0.25); },
             {randn64({1, 3}, 109)});
  Tensor l4 = labels_of({0, 4, 2, 1});
  CHECK_GRAD(OpKind::CROSS_ENTROPY, [l4](const Vars& v) { return ag::cross_entropy(v[0], l4); },
             {randn64({5, 4}, 110).transpose(0, 1)});
}

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
