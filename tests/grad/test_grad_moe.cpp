// Gradient checks of the mixture-of-experts family: the grouped expert GEMM.
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {
using Vars = std::vector<Variable>;

Tensor idx(const std::vector<double>& v, const Shape& shape) { return Tensor::from_vector(v, shape, DType::i64); }

}  // namespace

GRAD_TEST(OpKind::MOE_GROUPED_MATMUL, "grad moe_grouped_matmul: an expert without rows, padding rows, strided x") {
  Tensor offsets = idx({0, 2, 2, 6, 7}, {5});
  CHECK_GRAD(OpKind::MOE_GROUPED_MATMUL,
             [offsets](const Vars& v) { return ag::moe_grouped_matmul(v[0], v[1], offsets); },
             {randn64({7, 3}, 301), randn64({4, 3, 5}, 302)});
  // Rows past offsets[E] give zero and take no gradient; x is a transposed view.
  Tensor short_offsets = idx({0, 1, 3}, {3});
  CHECK_GRAD(OpKind::MOE_GROUPED_MATMUL,
             [short_offsets](const Vars& v) { return ag::moe_grouped_matmul(v[0], v[1], short_offsets); },
             {randn64({2, 5}, 303).transpose(0, 1), randn64({2, 2, 3}, 304)});
  // One row, one expert.
  Tensor one = idx({0, 1}, {2});
  CHECK_GRAD(OpKind::MOE_GROUPED_MATMUL, [one](const Vars& v) { return ag::moe_grouped_matmul(v[0], v[1], one); },
             {randn64({1, 4}, 305), randn64({1, 4, 2}, 306)});
}
