// Gradient checks: gather, scatter-add, index-select, index-add, concat, split,
// dropout and top-k.
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {
using Vars = std::vector<Variable>;

Tensor idx(const std::vector<double>& v, const Shape& shape) { return Tensor::from_vector(v, shape, DType::i64); }
}  // namespace

GRAD_TEST(OpKind::GATHER, "grad gather: repeated indices, middle and first axis, strided input") {
  // [2, 3, 2] index into axis 1 of [2, 4, 2]; index 1 appears several times.
  Tensor i1 = idx({1, 3, 1, 1, 0, 2, 2, 0, 3, 3, 1, 1}, {2, 3, 2});
  CHECK_GRAD(OpKind::GATHER, [i1](const Vars& v) { return ag::gather(v[0], 1, i1); }, {randn64({2, 4, 2}, 201)});
  Tensor i0 = idx({2, 0, 2, 1, 1, 1}, {2, 3});
  CHECK_GRAD(OpKind::GATHER, [i0](const Vars& v) { return ag::gather(v[0], 0, i0); },
             {randn64({3, 3}, 202).transpose(0, 1)});
}

GRAD_TEST(OpKind::SCATTER_ADD, "grad scatter_add: base and source, repeated targets") {
  Tensor i = idx({0, 4, 4, 1, 2, 2, 2, 3}, {2, 4});
  CHECK_GRAD(OpKind::SCATTER_ADD, [i](const Vars& v) { return ag::scatter_add(v[0], 1, i, v[1]); },
             {randn64({2, 5}, 203), randn64({2, 4}, 204)});
  Tensor i0 = idx({1, 0, 1}, {1, 3});
  CHECK_GRAD(OpKind::SCATTER_ADD, [i0](const Vars& v) { return ag::scatter_add(v[0], 0, i0, v[1]); },
             {randn64({3, 2}, 205).transpose(0, 1), randn64({1, 3}, 206)});
}

GRAD_TEST(OpKind::INDEX_SELECT, "grad index_select: repeated rows, first and last axis") {
  Tensor i = idx({2, 0, 2, 3}, {4});
  CHECK_GRAD(OpKind::INDEX_SELECT, [i](const Vars& v) { return ag::index_select(v[0], 0, i); },
             {randn64({4, 3, 2}, 207)});
  Tensor j = idx({1, 1, 0}, {3});
  CHECK_GRAD(OpKind::INDEX_SELECT, [j](const Vars& v) { return ag::index_select(v[0], -1, j); },
             {randn64({2, 5}, 208).transpose(0, 1)});
}

GRAD_TEST(OpKind::INDEX_ADD, "grad index_add: base and source, repeated rows, middle axis") {
  Tensor i = idx({1, 1, 4}, {3});
  CHECK_GRAD(OpKind::INDEX_ADD, [i](const Vars& v) { return ag::index_add(v[0], 0, i, v[1]); },
             {randn64({5, 3}, 209), randn64({3, 3}, 210)});
  Tensor j = idx({0, 2}, {2});
  CHECK_GRAD(OpKind::INDEX_ADD, [j](const Vars& v) { return ag::index_add(v[0], 1, j, v[1]); },
             {randn64({2, 3, 3}, 211), randn64({2, 2, 3}, 212)});
}

GRAD_TEST(OpKind::CONCAT, "grad concat: three inputs of different widths, one strided, and axis 0") {
  CHECK_GRAD(OpKind::CONCAT, [](const Vars& v) { return ag::concat({v[0], v[1], v[2]}, 1); },
             {randn64({3, 2}, 213), randn64({4, 3}, 214).transpose(0, 1), randn64({3, 1}, 215)});
  CHECK_GRAD(OpKind::CONCAT, [](const Vars& v) { return ag::concat({v[0], v[1]}, 0); },
             {randn64({1, 2, 3}, 216), randn64({2, 2, 3}, 217)});
}

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

GRAD_TEST(OpKind::DROPOUT, "grad dropout: fixed seed makes the mask a constant") {
  CHECK_GRAD(OpKind::DROPOUT, [](const Vars& v) { return ag::dropout(v[0], 0.3, true, 77, 5); },
             {randn64({4, 9}, 219)});
  CHECK_GRAD(OpKind::DROPOUT, [](const Vars& v) { return ag::dropout(v[0], 0.6, true, 78, 0); },
             {randn64({6, 5}, 220).transpose(0, 1)});
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

GRAD_TEST(OpKind::TOPK, "grad topk: largest and smallest, middle axis, distinct values") {
  CHECK_GRAD(OpKind::TOPK, [](const Vars& v) { return ag::topk(v[0], 3, 1).values; }, {distinct64({2, 6, 3}, 223)});
  CHECK_GRAD(OpKind::TOPK, [](const Vars& v) { return ag::topk(v[0], 2, -1, false).values; },
             {distinct64({5, 4}, 224).transpose(0, 1)});
}

TEST_CASE("topk gradient at a tie goes to the lower index", "[grad]") {
  Variable x(Tensor::from_vector({1.0, 3.0, 2.0, 3.0}, {4}, DType::f64), true);
  ag::TopK t = ag::topk(x, 1);
  CHECK(t.indices.to_vector() == std::vector<double>{1.0});
  t.values.backward(Tensor::ones({1}, DType::f64));
  CHECK(x.grad().to_vector() == std::vector<double>{0.0, 1.0, 0.0, 0.0});
}
