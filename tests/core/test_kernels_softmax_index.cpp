// CPU kernels of the softmax and index families against naive loops, plus the
// numerical and error-reporting behaviour of the functional ops built on them.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "base/rng.h"
#include "kernels/cpu/index.h"
#include "kernels/cpu/softmax.h"
#include "test_util.h"

using namespace engine;
using namespace engine::kernels;

namespace {

std::vector<double> random_vec(size_t n, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<double> v(n);
  for (double& x : v) x = d(rng);
  return v;
}

std::vector<int64_t> random_idx(size_t n, int64_t hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> d(0, hi - 1);
  std::vector<int64_t> v(n);
  for (int64_t& x : v) x = d(rng);
  return v;
}

template <class T>
std::vector<T> cast_vec(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

template <class T>
std::vector<double> to_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// Runs f and returns the message of the engine::Error it throws ("" if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

}  // namespace

TEMPLATE_TEST_CASE("softmax and log_softmax kernels match naive loops", "[kernels][softmax]", float, double) {
  const int64_t outer = 3, n = 7, inner = 5;
  std::vector<double> x = random_vec(size_t(outer * n * inner), 1, 3.0);
  std::vector<double> want(x.size()), want_log(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double mx = -INFINITY, s = 0;
      for (int64_t j = 0; j < n; ++j) mx = std::max(mx, x[size_t((o * n + j) * inner + i)]);
      for (int64_t j = 0; j < n; ++j) s += std::exp(x[size_t((o * n + j) * inner + i)] - mx);
      for (int64_t j = 0; j < n; ++j) {
        size_t at = size_t((o * n + j) * inner + i);
        want[at] = std::exp(x[at] - mx) / s;
        want_log[at] = x[at] - mx - std::log(s);
      }
    }
  std::vector<TestType> xt = cast_vec<TestType>(x), y(x.size()), ylog(x.size());
  softmax_fwd_cpu<TestType>(y.data(), xt.data(), outer, n, inner, false);
  softmax_fwd_cpu<TestType>(ylog.data(), xt.data(), outer, n, inner, true);
  double tol = std::is_same<TestType, float>::value ? 1e-5 : 1e-12;
  CHECK(max_abs_diff(to_double(y), want) < tol);
  CHECK(max_abs_diff(to_double(ylog), want_log) < tol * 10);

  // Backward: gx_j = sum_k gy_k dy_k/dx_j with the explicit Jacobian.
  std::vector<double> gy = random_vec(x.size(), 2);
  std::vector<double> gx_want(x.size()), gxlog_want(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i)
      for (int64_t j = 0; j < n; ++j) {
        size_t aj = size_t((o * n + j) * inner + i);
        double s = 0, slog = 0;
        for (int64_t k = 0; k < n; ++k) {
          size_t ak = size_t((o * n + k) * inner + i);
          double delta = j == k ? 1.0 : 0.0;
          s += gy[ak] * want[ak] * (delta - want[aj]);
          slog += gy[ak] * (delta - want[aj]);
        }
        gx_want[aj] = s;
        gxlog_want[aj] = slog;
      }
  std::vector<TestType> gyt = cast_vec<TestType>(gy), gx(x.size()), gxlog(x.size());
  softmax_bwd_cpu<TestType>(gx.data(), gyt.data(), y.data(), outer, n, inner, false);
  softmax_bwd_cpu<TestType>(gxlog.data(), gyt.data(), ylog.data(), outer, n, inner, true);
  CHECK(max_abs_diff(to_double(gx), gx_want) < tol * 10);
  CHECK(max_abs_diff(to_double(gxlog), gxlog_want) < tol * 10);
}

TEST_CASE("softmax stays finite for inputs of 1e4", "[kernels][softmax]") {
  Tensor x = Tensor::from_vector({1e4, 0.0, -1e4, 1e4}, {1, 4}, DType::f32);
  std::vector<double> y = ops::softmax(x, 1).to_vector();
  CHECK(y[0] == Approx(0.5));
  CHECK(y[1] == 0.0);
  CHECK(y[3] == Approx(0.5));
  std::vector<double> ly = ops::log_softmax(x, 1).to_vector();
  CHECK(ly[0] == Approx(-std::log(2.0)));
  CHECK(ly[2] == Approx(-2e4 - std::log(2.0)));
}

TEST_CASE("cross_entropy matches hand-computed values", "[kernels][softmax]") {
  // Row 0: logits 1, 2, 3 with label 2: lse = 3 + log(1 + e^-1 + e^-2) = 3.40760596444438.
  // Row 1: logits 0, 0, 0 with label 0: loss log 3.
  double lse0 = 3.40760596444438, l1 = std::log(3.0);
  Tensor logits = Tensor::from_vector({1, 2, 3, 0, 0, 0}, {2, 3}, DType::f64);
  Tensor labels = Tensor::from_vector({2, 0}, {2}, DType::i64);
  ops::CrossEntropyOutput r = ops::cross_entropy(logits, labels);
  CHECK(r.loss.dim() == 0);
  CHECK(r.loss.item() == Approx(((lse0 - 3.0) + l1) / 2).epsilon(1e-12));
  CHECK(r.lse.to_vector()[0] == Approx(lse0).epsilon(1e-12));
  CHECK(r.lse.to_vector()[1] == Approx(l1).epsilon(1e-12));

  // Smoothing s = 0.3 over C = 3: target (0.1, 0.1, 0.8) for row 0, (0.8, 0.1, 0.1) for row 1.
  double row0 = lse0 - (0.1 * 1 + 0.1 * 2 + 0.8 * 3), row1 = l1;
  ops::CrossEntropyOutput rs = ops::cross_entropy(logits, labels, 0.3);
  CHECK(rs.loss.item() == Approx((row0 + row1) / 2).epsilon(1e-12));

  // Gradient: (softmax - target) / N, by hand for row 0.
  Tensor g = ops::cross_entropy_bwd(Tensor::scalar(1.0, DType::f64), logits, labels, rs.lse, 0.3);
  std::vector<double> gv = g.to_vector();
  double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  CHECK(gv[0] == Approx((std::exp(1.0) / z - 0.1) / 2).epsilon(1e-12));
  CHECK(gv[2] == Approx((std::exp(3.0) / z - 0.8) / 2).epsilon(1e-12));
  CHECK(gv[3] == Approx((1.0 / 3 - 0.8) / 2).epsilon(1e-12));
}

TEMPLATE_TEST_CASE("cross_entropy kernels match naive loops", "[kernels][softmax]", float, double) {
  const int64_t N = 9, C = 13;
  const double s = 0.15;
  std::vector<double> x = random_vec(size_t(N * C), 3, 4.0);
  std::vector<int64_t> labels = random_idx(size_t(N), C, 4);
  double want_loss = 0;
  std::vector<double> want_g(x.size());
  for (int64_t r = 0; r < N; ++r) {
    double z = 0;
    for (int64_t c = 0; c < C; ++c) z += std::exp(x[size_t(r * C + c)]);
    for (int64_t c = 0; c < C; ++c) {
      double t = s / C + (c == labels[size_t(r)] ? 1 - s : 0);
      double p = std::exp(x[size_t(r * C + c)]) / z;
      want_loss -= t * std::log(p) / N;
      want_g[size_t(r * C + c)] = 0.5 * (p - t) / N;  // incoming gradient 0.5
    }
  }
  std::vector<TestType> xt = cast_vec<TestType>(x), lse(static_cast<size_t>(N)), g(x.size());
  TestType loss = 0, gloss = TestType(0.5);
  cross_entropy_fwd_cpu<TestType>(&loss, lse.data(), xt.data(), labels.data(), N, C, s);
  cross_entropy_bwd_cpu<TestType>(g.data(), &gloss, xt.data(), labels.data(), lse.data(), N, C, s);
  double tol = std::is_same<TestType, float>::value ? 1e-5 : 1e-12;
  CHECK(double(loss) == Approx(want_loss).epsilon(tol));
  CHECK(max_abs_diff(to_double(g), want_g) < tol);
}

TEST_CASE("cross_entropy stays finite for logits of 1e4", "[kernels][softmax]") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor logits = Tensor::from_vector({1e4, 0.0, -1e4, -1e4, 1e4, 1e4}, {2, 3}, dt);
    Tensor labels = Tensor::from_vector({1, 1}, {2}, DType::i64);
    ops::CrossEntropyOutput r = ops::cross_entropy(logits, labels, 0.1);
    // Row 0: lse = 1e4, row loss 0.9 * 1e4 + 0.1 * (1e4 - 0) = 1e4.
    // Row 1: lse = 1e4 + log 2, row loss 0.9 log 2 + 0.1 (lse - (1e4 / 3)).
    double lse1 = 1e4 + std::log(2.0);
    double want = (1e4 + 0.9 * std::log(2.0) + 0.1 * (lse1 - 1e4 / 3)) / 2;
    CHECK(std::isfinite(r.loss.item()));
    CHECK(r.loss.item() == Approx(want).epsilon(1e-6));
    Tensor g = ops::cross_entropy_bwd(Tensor::scalar(1.0, dt), logits, labels, r.lse, 0.1);
    for (double v : g.to_vector()) CHECK(std::isfinite(v));
    CHECK(g.to_vector()[1] == Approx((0.0 - (0.9 + 0.1 / 3)) / 2).margin(1e-6));
  }
}

TEST_CASE("cross_entropy rejects out-of-range labels and bad shapes", "[kernels][softmax]") {
  Tensor logits = Tensor::zeros({2, 3}, DType::f32);
  std::string e = error_of([&] { ops::cross_entropy(logits, Tensor::from_vector({0, 3}, {2}, DType::i64)); });
  CHECK(e.find("cross_entropy") != std::string::npos);
  CHECK(e.find("label 3") != std::string::npos);
  CHECK(e.find("[0, 3)") != std::string::npos);
  CHECK(error_of([&] {
          ops::cross_entropy(logits, Tensor::from_vector({-1, 0}, {2}, DType::i64));
        }).find("label -1") != std::string::npos);
  CHECK(error_of([&] {
          ops::cross_entropy(logits, Tensor::from_vector({0, 1, 2}, {3}, DType::i64));
        }).find("[3]") != std::string::npos);
  CHECK(error_of([&] {
          ops::cross_entropy(logits, Tensor::from_vector({0, 1}, {2}, DType::f32));
        }).find("i64") != std::string::npos);
}

TEMPLATE_TEST_CASE("gather and scatter_add kernels match naive loops", "[kernels][index]", float, double) {
  const int64_t outer = 3, n_x = 6, n_idx = 4, inner = 5;
  std::vector<double> x = random_vec(size_t(outer * n_x * inner), 5);
  std::vector<double> src = random_vec(size_t(outer * n_idx * inner), 6);
  std::vector<int64_t> idx = random_idx(size_t(outer * n_idx * inner), n_x, 7);
  std::vector<double> want_g(idx.size()), want_s = x;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n_idx; ++j)
      for (int64_t i = 0; i < inner; ++i) {
        size_t at = size_t((o * n_idx + j) * inner + i);
        size_t from = size_t((o * n_x + idx[at]) * inner + i);
        want_g[at] = x[from];
        want_s[from] += src[at];
      }
  std::vector<TestType> xt = cast_vec<TestType>(x), st = cast_vec<TestType>(src), g(idx.size()), s(x.size());
  gather_fwd_cpu<TestType>(g.data(), xt.data(), idx.data(), outer, n_x, n_idx, inner);
  scatter_add_fwd_cpu<TestType>(s.data(), xt.data(), idx.data(), st.data(), outer, n_x, n_idx, inner);
  CHECK(to_double(g) == to_double(cast_vec<TestType>(want_g)));
  CHECK(max_abs_diff(to_double(s), want_s) < 1e-5);
  // In place (y aliases base).
  scatter_add_fwd_cpu<TestType>(xt.data(), xt.data(), idx.data(), st.data(), outer, n_x, n_idx, inner);
  CHECK(to_double(xt) == to_double(s));
}

TEMPLATE_TEST_CASE("index_select and index_add kernels match naive loops", "[kernels][index]", float, double) {
  const int64_t outer = 2, n_x = 7, n_idx = 5, inner = 300;  // inner spans two blocks of the index_add loop
  std::vector<double> x = random_vec(size_t(outer * n_x * inner), 8);
  std::vector<double> src = random_vec(size_t(outer * n_idx * inner), 9);
  std::vector<int64_t> idx = {3, 0, 3, 6, 3};
  std::vector<double> want_sel(src.size()), want_add = x;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n_idx; ++j)
      for (int64_t i = 0; i < inner; ++i) {
        size_t at = size_t((o * n_idx + j) * inner + i);
        size_t from = size_t((o * n_x + idx[size_t(j)]) * inner + i);
        want_sel[at] = x[from];
        want_add[from] += src[at];
      }
  std::vector<TestType> xt = cast_vec<TestType>(x), st = cast_vec<TestType>(src), sel(src.size()), add(x.size());
  index_select_fwd_cpu<TestType>(sel.data(), xt.data(), idx.data(), outer, n_x, n_idx, inner);
  index_add_fwd_cpu<TestType>(add.data(), xt.data(), idx.data(), st.data(), outer, n_x, n_idx, inner);
  CHECK(to_double(sel) == to_double(cast_vec<TestType>(want_sel)));
  CHECK(max_abs_diff(to_double(add), want_add) < 1e-5);
}

TEST_CASE("index ops reject out-of-range indices naming op, value and range", "[kernels][index]") {
  Tensor x = Tensor::zeros({2, 4}, DType::f32);
  std::string e = error_of([&] { ops::gather(x, 1, Tensor::from_vector({0, 4, 1, 2}, {2, 2}, DType::i64)); });
  CHECK(e.find("gather") != std::string::npos);
  CHECK(e.find("index 4") != std::string::npos);
  CHECK(e.find("[0, 4)") != std::string::npos);
  e = error_of([&] {
    ops::scatter_add(x, 0, Tensor::from_vector({0, 1, 2, -1}, {1, 4}, DType::i64), Tensor::zeros({1, 4}));
  });
  CHECK(e.find("scatter_add") != std::string::npos);
  CHECK(e.find("index 2") != std::string::npos);
  CHECK(e.find("[0, 2)") != std::string::npos);
  e = error_of([&] { ops::index_select(x, 0, Tensor::from_vector({5}, {1}, DType::i64)); });
  CHECK(e.find("index_select") != std::string::npos);
  CHECK(e.find("index 5") != std::string::npos);
  e = error_of([&] { ops::index_add(x, 1, Tensor::from_vector({-2}, {1}, DType::i64), Tensor::zeros({2, 1})); });
  CHECK(e.find("index_add") != std::string::npos);
  CHECK(e.find("index -2") != std::string::npos);
  CHECK(error_of([&] { ops::gather(x, 1, Tensor::zeros({3, 2}, DType::i64)); }).find("[3, 2]") != std::string::npos);
  CHECK(error_of([&] { ops::gather(x, 1, Tensor::zeros({2, 2}, DType::i32)); }).find("i64") != std::string::npos);
}

TEST_CASE("gather and index_select through the functional API on strided inputs", "[kernels][index]") {
  Tensor x = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {3, 2}, DType::f64).transpose(0, 1);  // [[0,2,4],[1,3,5]]
  Tensor g = ops::gather(x, 1, Tensor::from_vector({2, 2, 0, 1}, {2, 2}, DType::i64));
  CHECK(g.to_vector() == std::vector<double>{4, 4, 1, 3});
  Tensor s = ops::index_select(x, -1, Tensor::from_vector({1, 0}, {2}, DType::i64));
  CHECK(s.to_vector() == std::vector<double>{2, 0, 3, 1});
  Tensor a = ops::index_add(Tensor::zeros({3}, DType::f64), 0, Tensor::from_vector({2, 2}, {2}, DType::i64),
                            Tensor::from_vector({1.5, 2.0}, {2}, DType::f64));
  CHECK(a.to_vector() == std::vector<double>{0, 0, 3.5});
}

TEST_CASE("index_select copies bf16 and f16 rows as they are", "[kernels][index]") {
  // Rows picked along axis 1 of a [2, 5, 3] tensor, repeats included, NaN and -0 among
  // the values: the 16-bit bits of the picked rows, unchanged.
  std::vector<double> v(30);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.37 * double(i) - 4.1;
  v[4] = std::nan("");
  v[7] = -0.0;
  const Tensor x64 = Tensor::from_vector(v, {2, 5, 3}, DType::f64);
  const Tensor idx = Tensor::from_vector({4, 0, 4, 2}, {4}, DType::i64);
  for (DType dt : {DType::bf16, DType::f16}) {
    INFO(dtype_name(dt));
    const Tensor x = x64.to(dt);
    const Tensor got = ops::index_select(x, 1, idx);
    REQUIRE(got.dtype() == dt);
    REQUIRE(got.shape() == Shape{2, 4, 3});
    const uint16_t* xb = static_cast<const uint16_t*>(x.data_ptr());
    const uint16_t* gb = static_cast<const uint16_t*>(got.data_ptr());
    const int64_t picks[] = {4, 0, 4, 2};
    for (int64_t o = 0; o < 2; ++o)
      for (int64_t j = 0; j < 4; ++j)
        for (int64_t i = 0; i < 3; ++i) CHECK(gb[(o * 4 + j) * 3 + i] == xb[(o * 5 + picks[j]) * 3 + i]);
  }
}

TEST_CASE("concat matches naive loops, split returns covering views", "[kernels][index]") {
  // Three [2, k, 3] blocks along axis 1 (k = 1, 0, 2), i64 to exercise the byte copy.
  std::vector<int64_t> a(6), c(12);
  std::iota(a.begin(), a.end(), 0);
  std::iota(c.begin(), c.end(), 100);
  std::vector<int64_t> sizes = {1, 0, 2};
  const void* xs[] = {a.data(), nullptr, c.data()};
  std::vector<int64_t> y(18);
  concat_fwd_cpu(y.data(), xs, sizes.data(), 3, 2, 3, sizeof(int64_t));
  std::vector<int64_t> want;
  for (int64_t o = 0; o < 2; ++o) {
    for (int64_t i = 0; i < 3; ++i) want.push_back(a[size_t(o * 3 + i)]);
    for (int64_t i = 0; i < 6; ++i) want.push_back(c[size_t(o * 6 + i)]);
  }
  CHECK(y == want);

  Tensor x = engine::testing::randn64({4, 5}, 10);
  std::vector<Tensor> parts = ops::split(x, {2, 0, 3}, 1);
  REQUIRE(parts.size() == 3);
  CHECK(parts[1].shape() == Shape{4, 0});
  CHECK(parts[2].shares_storage(x));
  Tensor back = ops::concat(parts, -1);
  CHECK(back.to_vector() == x.to_vector());
  CHECK(ops::concat({x.transpose(0, 1), x.transpose(0, 1)}, 0).shape() == Shape{10, 4});
  CHECK(error_of([&] { ops::split(x, {2, 2}, 1); }).find("sum to 4") != std::string::npos);
  CHECK(error_of([&] { ops::concat({x, Tensor::zeros({3, 5}, DType::f64)}, 1); }).find("[3, 5]") != std::string::npos);
}

TEMPLATE_TEST_CASE("topk kernel matches a stable sort", "[kernels][index]", float, double) {
  const int64_t outer = 3, n = 11, inner = 4, k = 5;
  std::vector<double> x = random_vec(size_t(outer * n * inner), 11);
  for (double& v : x) v = std::round(v * 2);  // many ties
  std::vector<TestType> xt = cast_vec<TestType>(x), vals(static_cast<size_t>(outer * k * inner));
  std::vector<int64_t> ids(vals.size());
  for (bool largest : {true, false}) {
    topk_fwd_cpu<TestType>(vals.data(), ids.data(), xt.data(), outer, n, inner, k, largest);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        std::vector<int64_t> order(static_cast<size_t>(n));
        std::iota(order.begin(), order.end(), 0);
        auto at = [&](int64_t j) { return x[size_t((o * n + j) * inner + i)]; };
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t p, int64_t q) { return largest ? at(p) > at(q) : at(p) < at(q); });
        for (int64_t r = 0; r < k; ++r) {
          size_t out = size_t((o * k + r) * inner + i);
          CHECK(ids[out] == order[size_t(r)]);
          CHECK(double(vals[out]) == at(order[size_t(r)]));
        }
      }
  }
}

TEST_CASE("topk tie order: lower index first, NaN ranks highest", "[kernels][index]") {
  Tensor x = Tensor::from_vector({1, 3, 3, 2, 3, 1}, {6}, DType::f32);
  ops::TopKOutput t = ops::topk(x, 4);
  CHECK(t.indices.to_vector() == std::vector<double>{1, 2, 4, 3});
  CHECK(t.values.to_vector() == std::vector<double>{3, 3, 3, 2});
  ops::TopKOutput s = ops::topk(x, 3, 0, false);
  CHECK(s.indices.to_vector() == std::vector<double>{0, 5, 3});
  Tensor xn = Tensor::from_vector({1, NAN, 5}, {3}, DType::f64);
  CHECK(ops::topk(xn, 2).indices.to_vector() == std::vector<double>{1, 2});
  CHECK(ops::topk(xn, 2, 0, false).indices.to_vector() == std::vector<double>{0, 2});
  CHECK(error_of([&] { ops::topk(x, 7); }).find("k = 7") != std::string::npos);
}

TEST_CASE("dropout: Philox mask, keep rate, scaling and determinism", "[kernels][index]") {
  const int64_t n = 200000;
  const double p = 0.3;
  Tensor x = Tensor::full({n}, 2.0, DType::f32);
  ops::DropoutOutput r = ops::dropout(x, p, 1234, 0);
  std::vector<double> m = r.mask.to_vector(), y = r.y.to_vector();
  double kept = std::accumulate(m.begin(), m.end(), 0.0) / double(n);
  // Binomial std of the rate is about 0.001; 5 sigma.
  CHECK(std::abs(kept - (1 - p)) < 0.005);
  for (int64_t i = 0; i < n; i += 997) {
    bool keep = double(philox_uniform(1234, uint64_t(i))) >= p;
    CHECK(m[size_t(i)] == (keep ? 1.0 : 0.0));
    CHECK(y[size_t(i)] == Approx(keep ? 2.0 / (1 - p) : 0.0));
  }
  CHECK(ops::dropout(x, p, 1234, 0).mask.to_vector() == m);
  CHECK(ops::dropout(x, p, 1235, 0).mask.to_vector() != m);
  // The offset shifts the stream: offset 10 sees elements 10.. of offset 0.
  std::vector<double> shifted = ops::dropout(x.slice(0, 0, 100), p, 1234, 10).mask.to_vector();
  CHECK(shifted == std::vector<double>(m.begin() + 10, m.begin() + 110));
  CHECK(ops::dropout(x, 1.0, 1, 0).y.to_vector() == std::vector<double>(size_t(n), 0.0));
  CHECK(error_of([&] { ops::dropout(x, 1.5, 1, 0); }).find("1.5") != std::string::npos);
}
