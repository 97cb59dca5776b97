// Gradient behaviour of the indexing family beyond the finite-difference checks, which
// are the op-case table's (opcases/cases_softmax_index.cpp, run by test_grad_opcases.cpp):
// split, dropout's mask and identity cases, top-k ties.
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {
using Vars = std::vector<Variable>;
}  // namespace

TEST_CASE("split pieces are differentiable slices that cover the input", "[grad]") {
  GradCheckResult r = gradcheck(
      [](const Vars& v) {
        std::vector<Variable> p = ag::split(v[0], {1, 3, 2}, -1);
        return ag::concat({ag::mul(p[0], 2.0), p[2], ag::exp(p[1])}, 1);
      },
      {randn64({2, 6}, 218)});
  INFO(r.message);
  CHECK(r.ok);
  CHECK(r.checked == 12);
  CHECK(r.saw(OpKind::SLICE));
}

TEST_CASE("dropout gradient is mask / (1 - p), and identity when not training", "[grad]") {
  Variable x(randn64({50}, 221), true);
  ag::sum(ag::dropout(x, 0.4, true, 9, 0)).backward();
  ops::DropoutOutput r = ops::dropout(x.data(), 0.4, 9, 0);
  std::vector<double> g = x.grad().to_vector(), m = r.mask.to_vector();
  for (size_t i = 0; i < g.size(); ++i) CHECK(g[i] == Approx(m[i] / 0.6));
  Variable z(randn64({5}, 222), true);
  CHECK(ag::dropout(z, 0.5, false, 1, 0).id() == z.id());
  CHECK(ag::dropout(z, 0.0, true, 1, 0).id() == z.id());
}

TEST_CASE("topk gradient at a tie goes to the lower index", "[grad]") {
  Variable x(Tensor::from_vector({1.0, 3.0, 2.0, 3.0}, {4}, DType::f64), true);
  ag::TopK t = ag::topk(x, 1);
  CHECK(t.indices.to_vector() == std::vector<double>{1.0});
  t.values.backward(Tensor::ones({1}, DType::f64));
  CHECK(x.grad().to_vector() == std::vector<double>{0.0, 1.0, 0.0, 0.0});
}
