// bf16/f16 on the CPU: every op runs its f32 kernel on widened inputs and rounds the
// outputs, so a low-precision result must equal, bit for bit, the f32 result of the
// rounded inputs, rounded.
#include <cmath>
#include <vector>

#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {

// The f32 values a low-precision tensor holds.
Tensor widened(const Tensor& t) { return t.to(DType::f32); }
// A random tensor already representable in `dt`, as (low-precision, f32 twin).
std::pair<Tensor, Tensor> rand_pair(const Shape& s, uint64_t seed, DType dt, double scale = 1.0) {
  Tensor lo = randn64(s, seed, 0.0, scale).to(dt);
  return {lo, widened(lo)};
}

void require_equal(const Tensor& lowp, const Tensor& ref_f32) {
  REQUIRE(lowp.shape() == ref_f32.shape());
  std::vector<double> a = lowp.to(DType::f32).to_vector();
  std::vector<double> b = ref_f32.to(lowp.dtype()).to(DType::f32).to_vector();
  size_t bad = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i])) ++bad;
  INFO("mismatching elements: " << bad << " of " << a.size());
  REQUIRE(bad == 0);
}

}  // namespace

TEST_CASE("lowp cpu: conv2d, linear, matmul in bf16 and f16 equal the rounded f32 result", "[core][lowp]") {
  // The widened paths (the native bf16 convolutions and GEMMs of a CPU with bf16
  // arithmetic sum in another order: tests/ops/test_conv_onednn.cpp, test_gemm_bf16.cpp).
  opcases::EnvScope env({"ENGINE_CPU_BF16_GEMM=widen", "ENGINE_CPU_CONV=im2col"});
  for (DType dt : {DType::bf16, DType::f16}) {
    INFO(dtype_name(dt));
    auto [x, x32] = rand_pair({2, 3, 7, 5}, 1, dt);
    auto [w, w32] = rand_pair({4, 3, 3, 3}, 2, dt, 0.3);
    auto [b, b32] = rand_pair({4}, 3, dt);
    ops::Conv2dOptions o;
    o.pad_h = o.pad_w = 1;
    o.stride_w = 2;
    Tensor y = ops::conv2d(x, w, b, o);
    REQUIRE(y.dtype() == dt);
    require_equal(y, ops::conv2d(x32, w32, b32, o));
    auto [gy, gy32] = rand_pair(y.shape(), 4, dt);
    require_equal(ops::conv2d_bwd_data(gy, w, x.shape(), o), ops::conv2d_bwd_data(gy32, w32, x32.shape(), o));
    require_equal(ops::conv2d_bwd_filter(gy, x, w.shape(), o), ops::conv2d_bwd_filter(gy32, x32, w32.shape(), o));

    auto [a, a32] = rand_pair({5, 9}, 5, dt);
    auto [lw, lw32] = rand_pair({3, 9}, 6, dt);
    require_equal(ops::linear(a, lw, Tensor()), ops::linear(a32, lw32, Tensor()));
    // A transposed (strided) operand keeps its layout through the f32 stand-in.
    auto [m, m32] = rand_pair({9, 5}, 7, dt);
    require_equal(ops::matmul(m.transpose(0, 1), lw.transpose(0, 1)),
                  ops::matmul(m32.transpose(0, 1), lw32.transpose(0, 1)));
  }
}

TEST_CASE("lowp cpu: elementwise, reductions, softmax in bf16 on broadcast and strided inputs", "[core][lowp]") {
  auto [a, a32] = rand_pair({4, 6}, 11, DType::bf16);
  auto [r, r32] = rand_pair({6}, 12, DType::bf16);
  require_equal(ops::add(a, r), ops::add(a32, r32));
  require_equal(ops::mul(a.transpose(0, 1), a.transpose(0, 1)), ops::mul(a32.transpose(0, 1), a32.transpose(0, 1)));
  require_equal(ops::relu(a.slice(1, 1, 6, 2)), ops::relu(a32.slice(1, 1, 6, 2)));
  require_equal(ops::exp(a), ops::exp(a32));
  require_equal(ops::sum(a, {1}), ops::sum(a32, {1}));
  require_equal(ops::var(a, {0}), ops::var(a32, {0}));
  require_equal(ops::softmax(a, 1), ops::softmax(a32, 1));
  Tensor am = ops::argmax(a, 1);
  REQUIRE(am.dtype() == DType::i64);
  REQUIRE(am.to_vector() == ops::argmax(a32, 1).to_vector());
  // An in-place strided output: elements between the written ones keep their values.
  Tensor dst = Tensor::zeros({4, 6}, DType::bf16);
  ops::copy_into(dst.slice(1, 0, 6, 2), ops::relu(a.slice(1, 0, 6, 2)));
  std::vector<double> d = dst.to_vector(), av = a32.to_vector();
  for (size_t i = 0; i < d.size(); ++i) REQUIRE(d[i] == (i % 2 == 0 ? std::max(av[i], 0.0) : 0.0));
}

TEST_CASE("lowp cpu: batchnorm2d with a bf16 input and f32 or bf16 parameters", "[core][lowp]") {
  auto [x, x32] = rand_pair({3, 4, 5, 3}, 21, DType::bf16, 2.0);
  Tensor gamma = randn64({4}, 22).to(DType::f32), beta = randn64({4}, 23).to(DType::f32);
  SECTION("mixed: f32 parameters and statistics") {
    Tensor rm = Tensor::zeros({4}), rv = Tensor::ones({4});
    Tensor rm32 = rm.clone(), rv32 = rv.clone();
    ops::BatchNormOutput o = ops::batchnorm2d(x, gamma, beta, rm, rv, true, 0.1, 1e-5);
    ops::BatchNormOutput r = ops::batchnorm2d(x32, gamma, beta, rm32, rv32, true, 0.1, 1e-5);
    REQUIRE(o.y.dtype() == DType::bf16);
    REQUIRE(o.save_mean.dtype() == DType::f32);
    require_equal(o.y, r.y);
    REQUIRE(o.save_mean.to_vector() == r.save_mean.to_vector());
    REQUIRE(rm.to_vector() == rm32.to_vector());
    REQUIRE(rv.to_vector() == rv32.to_vector());
    REQUIRE(rm.to_vector() != std::vector<double>(4, 0.0));
    auto [gy, gy32] = rand_pair(x.shape(), 24, DType::bf16);
    ops::BatchNormGrads g = ops::batchnorm2d_bwd(gy, x, gamma, o.save_mean, o.save_invstd, true);
    ops::BatchNormGrads g32 = ops::batchnorm2d_bwd(gy32, x32, gamma, r.save_mean, r.save_invstd, true);
    REQUIRE(g.gx.dtype() == DType::bf16);
    REQUIRE(g.ggamma.dtype() == DType::f32);
    require_equal(g.gx, g32.gx);
    REQUIRE(g.ggamma.to_vector() == g32.ggamma.to_vector());
    REQUIRE(g.gbeta.to_vector() == g32.gbeta.to_vector());
  }
  SECTION("all bf16: running statistics updated in place and rounded") {
    Tensor rm = Tensor::zeros({4}, DType::bf16), rv = Tensor::ones({4}, DType::bf16);
    Tensor rm32 = Tensor::zeros({4}), rv32 = Tensor::ones({4});
    Tensor g16 = gamma.to(DType::bf16), b16 = beta.to(DType::bf16);
    ops::BatchNormOutput o = ops::batchnorm2d(x, g16, b16, rm, rv, true, 0.1, 1e-5);
    ops::BatchNormOutput r = ops::batchnorm2d(x32, widened(g16), widened(b16), rm32, rv32, true, 0.1, 1e-5);
    require_equal(o.y, r.y);
    require_equal(rm, rm32);
    require_equal(rv, rv32);
  }
  SECTION("parameters of another dtype than f32 are refused") {
    REQUIRE_THROWS_WITH(
        ops::batchnorm2d(x, gamma.to(DType::f64), beta.to(DType::f64), Tensor(), Tensor(), false, 0.1, 1e-5),
        Catch::Contains("batchnorm2d"));
  }
}

TEST_CASE("lowp cpu: an f16 optimizer step reads and writes its state in place", "[core][lowp]") {
  auto [p, p32] = rand_pair({7}, 31, DType::f16);
  auto [g, g32] = rand_pair({7}, 32, DType::f16);
  Tensor m = Tensor::zeros({7}, DType::f16), v = Tensor::zeros({7}, DType::f16);
  Tensor m32 = Tensor::zeros({7}), v32 = Tensor::zeros({7});
  ops::adamw_step(p, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0.0, 1);
  ops::adamw_step(p32, g32, m32, v32, 0.01, 0.9, 0.999, 1e-8, 0.0, 1);
  require_equal(p, p32);
  require_equal(m, m32);
  require_equal(v, v32);
}
