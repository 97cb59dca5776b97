// The bf16 CPU GEMMs through oneDNN (kernels/cpu/gemm_bf16.h) against the widened
// reference (ENGINE_CPU_BF16_GEMM=widen: f32 GEMMs of the widened operands, rounded
// back): matmul in every transposition and batched, linear with and without bias, and the
// three grouped expert GEMMs with an expert that receives no rows. Both paths round one
// f32 sum per element to bf16, in different orders, so they may differ by one bf16 step
// (2^-8 relative) where a sum sits near a rounding boundary; the f64 product of the same
// bf16 inputs bounds both. On a CPU without bf16 arithmetic both settings take the
// widened path and the cases check that alone.
#include <cmath>

#include "kernels/cpu/gemm_bf16.h"
#include "test_util.h"

using namespace engine;
using engine::testing::randn64;

namespace {

Tensor bf16(const Shape& shape, uint64_t seed) { return randn64(shape, seed).to(DType::bf16); }

// Runs fn under each setting: {onednn, widen}.
template <class Fn>
std::pair<Tensor, Tensor> both_paths(Fn fn) {
  return engine::testing::under_both("ENGINE_CPU_BF16_GEMM=onednn", "ENGINE_CPU_BF16_GEMM=widen", fn);
}

// Each element of got within one bf16 step of want (and of the f64 reference `exact`
// within the bf16 rounding of both plus the f32 summation error).
void check_close(const Tensor& got, const Tensor& want, const Tensor& exact) {
  REQUIRE(got.dtype() == DType::bf16);
  REQUIRE(got.shape() == want.shape());
  const std::vector<double> g = got.to_vector(), w = want.to_vector(), e = exact.to_vector();
  double scale = 1.0;
  for (double v : e) scale = std::max(scale, std::fabs(v));
  int64_t off_by_one = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double step = std::ldexp(std::max(std::fabs(w[i]), 1e-30), -7);  // one bf16 step at w
    INFO("element " << i << ": onednn " << g[i] << ", widened " << w[i] << ", f64 " << e[i]);
    REQUIRE(std::fabs(g[i] - w[i]) <= step);
    off_by_one += g[i] != w[i];
    CHECK(std::fabs(g[i] - e[i]) <= std::ldexp(std::fabs(e[i]), -8) + 1e-5 * scale);
  }
  CHECK(off_by_one <= int64_t(g.size()) / 20);  // near a boundary only: a few per cent at most
}

}  // namespace

TEST_CASE("bf16 matmul on the CPU: oneDNN against the widened reference", "[ops][bf16]") {
  if (!kernels::gemm_bf16_native()) WARN("no bf16 arithmetic here: both settings take the widened path");
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      INFO("trans_a " << ta << ", trans_b " << tb);
      Tensor a = ta ? bf16({37, 29}, 1).transpose(0, 1) : bf16({29, 37}, 1);
      Tensor b = tb ? bf16({45, 37}, 2).transpose(0, 1) : bf16({37, 45}, 2);
      auto [got, want] = both_paths([&] { return ops::matmul(a, b); });
      check_close(got, want, ops::matmul(a.to(DType::f64), b.to(DType::f64)));
    }
  // Batched: [3, 17, 40] x [3, 40, 23], and a batch times one shared matrix.
  Tensor a = bf16({3, 17, 40}, 3), b = bf16({3, 40, 23}, 4), shared = bf16({40, 23}, 5);
  auto [got, want] = both_paths([&] { return ops::matmul(a, b); });
  check_close(got, want, ops::matmul(a.to(DType::f64), b.to(DType::f64)));
  auto [got2, want2] = both_paths([&] { return ops::matmul(a, shared); });
  check_close(got2, want2, ops::matmul(a.to(DType::f64), shared.to(DType::f64)));
}

TEST_CASE("bf16 linear on the CPU: oneDNN against the widened reference", "[ops][bf16]") {
  // A small case, and one whose bias pass is split over threads (N x out > 2^15).
  for (auto [n, out] : {std::pair<int64_t, int64_t>{33, 19}, {300, 130}})
    for (bool with_bias : {true, false}) {
      Tensor x = bf16({n, 70}, 6), w = bf16({out, 70}, 7), bias = bf16({out}, 8);
      INFO(n << " x " << out << ", bias " << with_bias);
      const Tensor bb = with_bias ? bias : Tensor();
      auto [got, want] = both_paths([&] { return ops::linear(x, w, bb); });
      check_close(got, want,
                  ops::linear(x.to(DType::f64), w.to(DType::f64), with_bias ? bias.to(DType::f64) : Tensor()));
    }
}

TEST_CASE("bf16 grouped expert GEMMs on the CPU: oneDNN against the widened reference", "[ops][bf16][moe]") {
  // 4 experts over 50 rows, expert 2 without rows, rows 47..49 past the last group.
  const int64_t E = 4, R = 50, Cin = 24, Cout = 36;
  Tensor offsets = Tensor::from_vector({0, 13, 30, 30, 47}, {E + 1}, DType::i64);
  Tensor x = bf16({R, Cin}, 9), w = bf16({E, Cin, Cout}, 10), gy = bf16({R, Cout}, 11);
  auto f64 = [](const Tensor& t) { return t.to(DType::f64); };
  {
    auto [got, want] = both_paths([&] { return ops::moe_grouped_matmul(x, w, offsets); });
    check_close(got, want, ops::moe_grouped_matmul(f64(x), f64(w), offsets));
  }
  {
    auto [got, want] = both_paths([&] { return ops::moe_grouped_matmul_bwd_data(gy, w, offsets); });
    check_close(got, want, ops::moe_grouped_matmul_bwd_data(f64(gy), f64(w), offsets));
  }
  {
    auto [got, want] = both_paths([&] { return ops::moe_grouped_matmul_bwd_weight(x, gy, offsets, E); });
    check_close(got, want, ops::moe_grouped_matmul_bwd_weight(f64(x), f64(gy), offsets, E));
    // The expert without rows gets a zero gradient.
    const std::vector<double> g = got.to_vector();
    for (int64_t i = 2 * Cin * Cout; i < 3 * Cin * Cout; ++i) CHECK(g[size_t(i)] == 0.0);
  }
}

TEST_CASE("ENGINE_CPU_BF16_GEMM names its choices", "[ops][bf16]") {
  opcases::EnvScope env({"ENGINE_CPU_BF16_GEMM=fast"});
  CHECK_THROWS_WITH(ops::matmul(bf16({4, 4}, 1), bf16({4, 4}, 2)),
                    Catch::Contains("ENGINE_CPU_BF16_GEMM must be widen or onednn, got 'fast'"));
}
