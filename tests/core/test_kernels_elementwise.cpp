// CPU elementwise and reduction kernels against naive loops written here.
#include <cmath>
#include <cstring>
#include <numeric>

#include "kernels/cpu/elementwise.h"
#include "test_util.h"

using namespace engine;
using namespace engine::testing;
using namespace engine::kernels;

namespace {

double naive_unary(UnaryOp op, double x) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return 1 / std::sqrt(x);
    case UnaryOp::Relu: return x > 0 ? x : 0;
    case UnaryOp::Gelu: return x * 0.5 * std::erfc(-x / std::sqrt(2.0));
    case UnaryOp::Sigmoid: return 1 / (1 + std::exp(-x));
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Clamp: return std::min(0.5, std::max(-0.5, x));
  }
  return 0;
}

}  // namespace

TEST_CASE("binary ops broadcast like numpy", "[kernels]") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor a = uniform64({3, 1, 5}, 1, 0.5, 2.0).to(dt);
    Tensor b = uniform64({4, 1}, 2, 0.5, 2.0).to(dt);
    std::vector<double> av = a.to_vector(), bv = b.to_vector();
    for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Maximum}) {
      std::vector<double> y = ops::binary(op, a, b).to_vector();
      REQUIRE(y.size() == 60);
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j)
          for (int k = 0; k < 5; ++k) {
            double x = av[size_t(i * 5 + k)], z = bv[size_t(j)], r = 0;
            switch (op) {
              case BinaryOp::Add: r = x + z; break;
              case BinaryOp::Sub: r = x - z; break;
              case BinaryOp::Mul: r = x * z; break;
              case BinaryOp::Div: r = x / z; break;
              case BinaryOp::Pow: r = std::pow(x, z); break;
              case BinaryOp::Maximum: r = std::max(x, z); break;
            }
            CHECK(y[size_t((i * 4 + j) * 5 + k)] == Approx(r).epsilon(1e-6));
          }
    }
  }
}

TEST_CASE("binary ops on long rows: each operand's broadcast and stride pattern", "[kernels]") {
  // Rows of 37 (longer than the row-by-row path's minimum, not a multiple of a vector):
  // a bias over rows (b stride 0 on rows), a value per row (stride 0 along the row), a
  // transposed operand (stride != 1 along the row), and both operands broadcast.
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor full = uniform64({6, 37}, 11, 0.5, 2.0).to(dt);
    Tensor row = uniform64({37}, 12, 0.5, 2.0).to(dt);
    Tensor col = uniform64({6, 1}, 13, 0.5, 2.0).to(dt);
    Tensor transposed = uniform64({37, 6}, 14, 0.5, 2.0).to(dt).transpose(0, 1);
    const std::vector<std::pair<Tensor, Tensor>> pairs = {
        {full, row}, {row, full}, {full, col}, {col, full}, {full, transposed}, {transposed, row}, {col, row}};
    for (const auto& [a, b] : pairs)
      for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Maximum}) {
        const std::vector<double> y = ops::binary(op, a, b).to_vector();
        const std::vector<double> ae = a.expand({6, 37}).contiguous().to_vector();
        const std::vector<double> be = b.expand({6, 37}).contiguous().to_vector();
        REQUIRE(y.size() == 6 * 37);
        for (size_t i = 0; i < y.size(); ++i) {
          double r = 0;
          switch (op) {
            case BinaryOp::Add: r = ae[i] + be[i]; break;
            case BinaryOp::Sub: r = ae[i] - be[i]; break;
            case BinaryOp::Mul: r = ae[i] * be[i]; break;
            case BinaryOp::Div: r = ae[i] / be[i]; break;
            default: r = std::max(ae[i], be[i]); break;
          }
          CHECK(y[i] == Approx(r).epsilon(1e-6));
        }
      }
  }
}

TEST_CASE("unary ops on a non-contiguous input", "[kernels]") {
  Tensor x = uniform64({6, 5}, 3, 0.1, 3.0).transpose(0, 1);
  std::vector<double> xv = x.to_vector();
  for (UnaryOp op : {UnaryOp::Neg, UnaryOp::Exp, UnaryOp::Log, UnaryOp::Sqrt, UnaryOp::Rsqrt, UnaryOp::Relu,
                     UnaryOp::Gelu, UnaryOp::Sigmoid, UnaryOp::Tanh, UnaryOp::Clamp}) {
    Tensor xs = op == UnaryOp::Relu || op == UnaryOp::Gelu || op == UnaryOp::Clamp ? ops::add(x, -1.5) : x;
    std::vector<double> in = xs.to_vector();
    std::vector<double> y = ops::unary(op, xs, -0.5, 0.5).to_vector();
    for (size_t i = 0; i < y.size(); ++i) CHECK(y[i] == Approx(naive_unary(op, in[i])).epsilon(1e-12));
  }
}

TEST_CASE("compare and where", "[kernels]") {
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {4}, DType::f64);
  Tensor b = Tensor::from_vector({2}, {1}, DType::f64);
  CHECK(ops::compare(CompareOp::Lt, a, b).to_vector() == std::vector<double>{1, 0, 0, 0});
  CHECK(ops::compare(CompareOp::Ge, a, b).to_vector() == std::vector<double>{0, 1, 1, 1});
  CHECK(ops::compare(CompareOp::Eq, a, b).to_vector() == std::vector<double>{0, 1, 0, 0});
  Tensor c = ops::compare(CompareOp::Gt, a, b);
  CHECK(ops::where(c, a, ops::neg(a)).to_vector() == std::vector<double>{-1, -2, 3, 4});
}

TEST_CASE("activation backward matches derivatives", "[kernels]") {
  Tensor x = uniform64({50}, 4, -3, 3);
  Tensor gy = uniform64({50}, 5, -1, 1);
  std::vector<double> xv = x.to_vector(), g = gy.to_vector();
  std::vector<double> relu = ops::activation_bwd(ActivationKind::Relu, gy, x).to_vector();
  std::vector<double> gelu = ops::activation_bwd(ActivationKind::Gelu, gy, x).to_vector();
  std::vector<double> sig = ops::activation_bwd(ActivationKind::Sigmoid, gy, ops::sigmoid(x)).to_vector();
  for (size_t i = 0; i < xv.size(); ++i) {
    double v = xv[i];
    CHECK(relu[i] == (v > 0 ? g[i] : 0.0));
    double h = 1e-5;
    double dg = (naive_unary(UnaryOp::Gelu, v + h) - naive_unary(UnaryOp::Gelu, v - h)) / (2 * h);
    CHECK(gelu[i] == Approx(g[i] * dg).margin(1e-8));
    double s = 1 / (1 + std::exp(-v));
    CHECK(sig[i] == Approx(g[i] * s * (1 - s)).margin(1e-12));
  }
  // f32 (the vector path, with a tail of 2) against the f64 derivative.
  std::vector<double> gelu32 =
      ops::activation_bwd(ActivationKind::Gelu, gy.to(DType::f32), x.to(DType::f32)).to_vector();
  for (size_t i = 0; i < xv.size(); ++i) {
    const double v = double(float(xv[i])), gi = double(float(g[i]));
    const double d = 0.5 * std::erfc(-v / std::sqrt(2.0)) + v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI);
    CHECK(gelu32[i] == Approx(gi * d).margin(1e-6));
  }
}

// The f32 GELU kernel (its own exp and erf, vectorised, threaded past 32768 elements)
// against the f64 formulas over [-15, 15], at the extremes and with NaN.
TEST_CASE("f32 gelu and its backward against the f64 formulas", "[kernels]") {
  std::vector<double> xs;
  for (int i = -30000; i <= 30000; ++i) xs.push_back(i * 5e-4);
  for (double v : {1e30, -1e30, 0.0, -0.0, 1e-30, -1e-30, -80.0, 90.0}) xs.push_back(v);
  const int64_t n = int64_t(xs.size());
  Tensor x = Tensor::from_vector(xs, {n}, DType::f32);
  Tensor gy = uniform64({n}, 7, -1, 1).to(DType::f32);
  const std::vector<double> xv = x.to_vector(), g = gy.to_vector();
  const std::vector<double> y = ops::gelu(x).to_vector();
  const std::vector<double> gx = ops::activation_bwd(ActivationKind::Gelu, gy, x).to_vector();
  double worst_fwd = 0, worst_bwd = 0, worst_tail = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double v = xv[size_t(i)], cdf = 0.5 * std::erfc(-v / std::sqrt(2.0));
    const double pdf = std::abs(v) < 40 ? std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI) : 0.0;
    const double want = v * cdf, want_g = g[size_t(i)] * (cdf + v * pdf);
    worst_fwd = std::max(worst_fwd, std::abs(y[size_t(i)] - want) / std::max(1.0, std::abs(want)));
    worst_bwd = std::max(worst_bwd, std::abs(gx[size_t(i)] - want_g));
    // Below -3 the result is x times a small tail probability: relative error there (it
    // grows further out, about 1.5% at -8, where the value is near -5e-15).
    if (v < -3 && v > -5) worst_tail = std::max(worst_tail, std::abs(y[size_t(i)] - want) / std::abs(want));
  }
  CHECK(worst_fwd < 5e-7);
  CHECK(worst_bwd < 5e-7);
  CHECK(worst_tail < 2e-3);
  const std::vector<double> nan_in = {std::nan(""), -1.0};
  Tensor xn = Tensor::from_vector(nan_in, {2}, DType::f32);
  CHECK(std::isnan(ops::gelu(xn).to_vector()[0]));
  CHECK(std::isnan(ops::activation_bwd(ActivationKind::Gelu, Tensor::ones({2}, DType::f32), xn).to_vector()[0]));
}

namespace {
// How many bf16 results differ from the f32 results rounded to nearest even.
int64_t rounded_mismatches(const std::vector<uint16_t>& got, const std::vector<float>& want) {
  int64_t differ = 0;
  for (size_t i = 0; i < want.size(); ++i) differ += got[i] != float_to_bf16(want[i]).bits;
  return differ;
}
}  // namespace

TEST_CASE("bf16 elementwise ops on dense operands equal the f32 ops on the widened values, rounded", "[kernels]") {
  // Past the threading threshold and not a multiple of the 2048-element blocks; NaN,
  // infinities and zeros of both signs among the values.
  const int64_t n = 70001;
  std::vector<double> av = uniform64({n}, 31, -4, 4).to_vector(), bv = uniform64({n}, 32, -4, 4).to_vector();
  const double specials[] = {std::nan(""), INFINITY, -INFINITY, 0.0, -0.0, 1e-40, 3e38};
  for (size_t i = 0; i < 7; ++i) {
    av[i * 97] = specials[i];
    bv[i * 89 + 5] = specials[6 - i];
  }
  const Tensor a = Tensor::from_vector(av, {n}, DType::f32).to(DType::bf16);
  const Tensor b = Tensor::from_vector(bv, {n}, DType::f32).to(DType::bf16);
  auto widened = [n](const Tensor& t) {
    std::vector<float> w(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) w[size_t(i)] = bf16_to_float(t.data<bf16_t>()[i]);
    return w;
  };
  const std::vector<float> wa = widened(a), wb = widened(b);
  StridedLayout dense;
  dense.ndim = 1;
  dense.shape[0] = n;
  dense.strides[0] = 1;
  dense.contiguous = true;
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Maximum}) {
    INFO("op " << int(op));
    std::vector<float> want(static_cast<size_t>(n));
    binary_fwd_cpu<float>(op, want.data(), wa.data(), dense, wb.data(), dense, n);
    std::vector<uint16_t> got(static_cast<size_t>(n));
    binary_bf16_dense_cpu(op, got.data(), static_cast<const uint16_t*>(a.data_ptr()),
                          static_cast<const uint16_t*>(b.data_ptr()), n);
    CHECK(rounded_mismatches(got, want) == 0);
    // Through the op (dense bf16 operands skip the widened copies) the same bits.
    if (op == BinaryOp::Add) {
      const Tensor y = ops::add(a, b);
      CHECK(std::memcmp(y.data_ptr(), got.data(), size_t(n) * 2) == 0);
    }
  }
  // Unary ops and activation backward likewise (Clamp to [-0.5, 0.5]).
  for (UnaryOp op : {UnaryOp::Neg, UnaryOp::Exp, UnaryOp::Log, UnaryOp::Sqrt, UnaryOp::Rsqrt, UnaryOp::Relu,
                     UnaryOp::Gelu, UnaryOp::Sigmoid, UnaryOp::Tanh, UnaryOp::Clamp}) {
    INFO("unary op " << int(op));
    std::vector<float> want(static_cast<size_t>(n));
    unary_fwd_cpu<float>(op, -0.5, 0.5, want.data(), wa.data(), dense, n);
    std::vector<uint16_t> got(static_cast<size_t>(n));
    unary_bf16_dense_cpu(op, -0.5, 0.5, got.data(), static_cast<const uint16_t*>(a.data_ptr()), n);
    CHECK(rounded_mismatches(got, want) == 0);
  }
  for (ActivationKind kind :
       {ActivationKind::Relu, ActivationKind::Gelu, ActivationKind::Sigmoid, ActivationKind::Tanh}) {
    INFO("activation backward " << int(kind));
    std::vector<float> want(static_cast<size_t>(n));
    activation_bwd_cpu<float>(kind, want.data(), wb.data(), wa.data(), n);
    std::vector<uint16_t> got(static_cast<size_t>(n));
    activation_bwd_bf16_cpu(kind, got.data(), static_cast<const uint16_t*>(b.data_ptr()),
                            static_cast<const uint16_t*>(a.data_ptr()), n);
    CHECK(rounded_mismatches(got, want) == 0);
    if (kind == ActivationKind::Gelu) {  // through the op
      const Tensor gx = ops::activation_bwd(kind, b, a);
      CHECK(std::memcmp(gx.data_ptr(), got.data(), size_t(n) * 2) == 0);
    }
  }
  const Tensor g = ops::gelu(a);
  std::vector<uint16_t> got(static_cast<size_t>(n));
  unary_bf16_dense_cpu(UnaryOp::Gelu, 0, 0, got.data(), static_cast<const uint16_t*>(a.data_ptr()), n);
  CHECK(std::memcmp(g.data_ptr(), got.data(), size_t(n) * 2) == 0);
}

TEST_CASE("reductions over any axes against loops", "[kernels]") {
  Tensor x = randn64({3, 4, 5}, 6);
  std::vector<double> v = x.to_vector();
  auto at = [&](int i, int j, int k) { return v[size_t((i * 4 + j) * 5 + k)]; };
  Tensor s = ops::sum(x, {0, 2});
  Tensor m = ops::mean(x, {1}, true);
  Tensor mx = ops::max(x, {-1});
  Tensor am = ops::argmax(x, 1);
  Tensor va = ops::var(x, {0, 2});
  CHECK(s.shape() == Shape{4});
  CHECK(m.shape() == Shape{3, 1, 5});
  for (int j = 0; j < 4; ++j) {
    double acc = 0, sq = 0;
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 5; ++k) acc += at(i, j, k);
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 5; ++k) sq += (at(i, j, k) - acc / 15) * (at(i, j, k) - acc / 15);
    CHECK(s.to_vector()[size_t(j)] == Approx(acc));
    CHECK(va.to_vector()[size_t(j)] == Approx(sq / 14));
  }
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 5; ++k) {
      double acc = 0, best = -1e300;
      int64_t bi = 0;
      for (int j = 0; j < 4; ++j) {
        acc += at(i, j, k);
        if (at(i, j, k) > best) best = at(i, j, k), bi = j;
      }
      CHECK(m.to_vector()[size_t(i * 5 + k)] == Approx(acc / 4));
      CHECK(am.to_vector()[size_t(i * 5 + k)] == bi);
    }
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) {
      double best = -1e300;
      for (int k = 0; k < 5; ++k) best = std::max(best, at(i, j, k));
      CHECK(mx.to_vector()[size_t(i * 4 + j)] == best);
    }
  CHECK(ops::sum(x).item() == Approx(std::accumulate(v.begin(), v.end(), 0.0)));
  CHECK(ops::sum_to(x, {4, 1}).shape() == Shape{4, 1});
  CHECK(ops::sum_to(x, {4, 1}).to_vector()[0] == Approx(ops::sum(x, {0, 2}).to_vector()[0]));
}
