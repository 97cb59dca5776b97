// CPU convolution and GEMM kernels against naive loops written here: a direct
// 7-loop convolution, scatter loops for both backward passes, triple-loop matmul.
#include <cmath>
#include <random>
#include <string>

#include "kernels/cpu/conv.h"
#include "kernels/cpu/linalg.h"
#include "test_util.h"

using namespace engine;
using namespace engine::testing;
using namespace engine::kernels;

namespace {

std::vector<double> random_vec(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, 1.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = d(rng);
  return v;
}

template <class T>
std::vector<T> cast_vec(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// max |a - b| / max(1, max |b|)
template <class T>
double rel_error(const std::vector<T>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double scale = 1, err = 0;
  for (double v : b) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < a.size(); ++i) err = std::max(err, std::abs(double(a[i]) - b[i]));
  return err / scale;
}

template <class T>
double tolerance() {
  return std::is_same<T, float>::value ? 2e-5 : 1e-12;
}

struct ConvCase {
  std::string name;
  int64_t N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, groups;
};

Conv2dParams params_of(const ConvCase& c) {
  Conv2dParams p;
  p.N = c.N, p.C = c.C, p.H = c.H, p.W = c.W, p.K = c.K, p.R = c.R, p.S = c.S;
  p.stride_h = c.sh, p.stride_w = c.sw, p.pad_h = c.ph, p.pad_w = c.pw, p.dil_h = c.dh, p.dil_w = c.dw;
  p.groups = c.groups;
  p.P = (c.H + 2 * c.ph - c.dh * (c.R - 1) - 1) / c.sh + 1;
  p.Q = (c.W + 2 * c.pw - c.dw * (c.S - 1) - 1) / c.sw + 1;
  return p;
}

// Calls f(n, k, oh, ow, c, r, s, ih, iw) for every in-bounds (output, tap) pair; c is
// the absolute input channel, r and s index the filter of group-local channel c % Cg.
template <class F>
void for_each_tap(const Conv2dParams& p, F f) {
  const int64_t Cg = p.C / p.groups, Kg = p.K / p.groups;
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t k = 0; k < p.K; ++k)
      for (int64_t oh = 0; oh < p.P; ++oh)
        for (int64_t ow = 0; ow < p.Q; ++ow)
          for (int64_t cl = 0; cl < Cg; ++cl)
            for (int64_t r = 0; r < p.R; ++r)
              for (int64_t s = 0; s < p.S; ++s) {
                int64_t ih = oh * p.stride_h - p.pad_h + r * p.dil_h, iw = ow * p.stride_w - p.pad_w + s * p.dil_w;
                if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
                f(n, k, oh, ow, (k / Kg) * Cg + cl, cl, r, s, ih, iw);
              }
}

struct ConvData {
  std::vector<double> x, w, bias, gy;
};

ConvData conv_data(const Conv2dParams& p, uint64_t seed) {
  return {random_vec(p.N * p.C * p.H * p.W, seed), random_vec(p.K * (p.C / p.groups) * p.R * p.S, seed + 1),
          random_vec(p.K, seed + 2), random_vec(p.N * p.K * p.P * p.Q, seed + 3)};
}

std::vector<double> naive_conv_fwd(const Conv2dParams& p, const ConvData& d, bool with_bias) {
  std::vector<double> y(static_cast<size_t>(p.N * p.K * p.P * p.Q), 0.0);
  const int64_t Cg = p.C / p.groups;
  for_each_tap(p, [&](int64_t n, int64_t k, int64_t oh, int64_t ow, int64_t c, int64_t cl, int64_t r, int64_t s,
                      int64_t ih, int64_t iw) {
    y[size_t(((n * p.K + k) * p.P + oh) * p.Q + ow)] +=
        d.x[size_t(((n * p.C + c) * p.H + ih) * p.W + iw)] * d.w[size_t(((k * Cg + cl) * p.R + r) * p.S + s)];
  });
  if (with_bias)
    for (size_t i = 0; i < y.size(); ++i) y[i] += d.bias[(i / size_t(p.P * p.Q)) % size_t(p.K)];
  return y;
}

std::vector<double> naive_conv_bwd_data(const Conv2dParams& p, const ConvData& d) {
  std::vector<double> gx(static_cast<size_t>(p.N * p.C * p.H * p.W), 0.0);
  const int64_t Cg = p.C / p.groups;
  for_each_tap(p, [&](int64_t n, int64_t k, int64_t oh, int64_t ow, int64_t c, int64_t cl, int64_t r, int64_t s,
                      int64_t ih, int64_t iw) {
    gx[size_t(((n * p.C + c) * p.H + ih) * p.W + iw)] +=
        d.gy[size_t(((n * p.K + k) * p.P + oh) * p.Q + ow)] * d.w[size_t(((k * Cg + cl) * p.R + r) * p.S + s)];
  });
  return gx;
}

std::vector<double> naive_conv_bwd_filter(const Conv2dParams& p, const ConvData& d) {
  const int64_t Cg = p.C / p.groups;
  std::vector<double> gw(static_cast<size_t>(p.K * Cg * p.R * p.S), 0.0);
  for_each_tap(p, [&](int64_t n, int64_t k, int64_t oh, int64_t ow, int64_t c, int64_t cl, int64_t r, int64_t s,
                      int64_t ih, int64_t iw) {
    gw[size_t(((k * Cg + cl) * p.R + r) * p.S + s)] +=
        d.gy[size_t(((n * p.K + k) * p.P + oh) * p.Q + ow)] * d.x[size_t(((n * p.C + c) * p.H + ih) * p.W + iw)];
  });
  return gw;
}

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {"3x3 stride 2 pad 1 groups 2, odd sizes", 2, 4, 7, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2},
      {"3x2 dilation 2, asymmetric padding", 3, 3, 9, 8, 4, 3, 2, 1, 1, 2, 1, 2, 2, 1},
      {"depthwise 3x3, stride 2, dilation 2, channel multiplier 2", 2, 4, 9, 7, 8, 3, 3, 2, 2, 2, 1, 2, 2, 4},
      {"strides (2, 3), padding (0, 2), groups 3", 2, 6, 8, 11, 3, 2, 3, 2, 3, 0, 2, 1, 1, 3},
      {"1x1 stride 1 (the columns are x)", 2, 5, 4, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1},
      {"1x1 stride 2 (ResNet shortcut)", 2, 4, 7, 7, 6, 1, 1, 2, 2, 0, 0, 1, 1, 1},
      {"batch 1, 5x5 kernel larger than the stride", 1, 2, 6, 6, 3, 5, 5, 1, 1, 2, 2, 1, 1, 1},
      {"padding wider than the kernel reach", 2, 2, 3, 4, 2, 2, 2, 1, 1, 3, 2, 1, 1, 1},
      // C*R*S*P*Q = 589,824 per image: the batch runs in chunks of 7 images, then 1.
      {"CIFAR-sized 64-channel input, several image chunks", 8, 64, 32, 32, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1},
  };
  return cases;
}

template <class T>
void check_conv_case(const ConvCase& cc, uint64_t seed) {
  INFO(cc.name << " (" << (std::is_same<T, float>::value ? "f32" : "f64") << ")");
  const Conv2dParams p = params_of(cc);
  const ConvData d = conv_data(p, seed);
  const std::vector<T> x = cast_vec<T>(d.x), w = cast_vec<T>(d.w), bias = cast_vec<T>(d.bias), gy = cast_vec<T>(d.gy);

  const T poison = T(12345);
  std::vector<T> y(static_cast<size_t>(p.N * p.K * p.P * p.Q), poison);
  conv2d_fwd_cpu<T>(y.data(), x.data(), w.data(), bias.data(), p);
  CHECK(rel_error(y, naive_conv_fwd(p, d, true)) < tolerance<T>());
  std::fill(y.begin(), y.end(), poison);
  conv2d_fwd_cpu<T>(y.data(), x.data(), w.data(), nullptr, p);
  CHECK(rel_error(y, naive_conv_fwd(p, d, false)) < tolerance<T>());

  std::vector<T> gx(x.size(), poison);
  conv2d_bwd_data_cpu<T>(gx.data(), gy.data(), w.data(), p);
  CHECK(rel_error(gx, naive_conv_bwd_data(p, d)) < tolerance<T>());

  std::vector<T> gw(w.size(), poison);
  conv2d_bwd_filter_cpu<T>(gw.data(), gy.data(), x.data(), p);
  CHECK(rel_error(gw, naive_conv_bwd_filter(p, d)) < tolerance<T>());
}

// c[b] = a[b] x b[b] by a triple loop over logical (row, col) accessors.
template <class A, class B>
std::vector<double> naive_matmul(int64_t batch, int64_t M, int64_t K, int64_t N, A a, B b) {
  std::vector<double> c(static_cast<size_t>(batch * M * N), 0.0);
  for (int64_t i = 0; i < batch; ++i)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += a(i, m, k) * b(i, k, n);
        c[size_t((i * M + m) * N + n)] = acc;
      }
  return c;
}

}  // namespace

TEST_CASE("conv2d kernels match direct loops (forward, data and filter gradients)", "[kernels][conv]") {
  uint64_t seed = 100;
  for (const ConvCase& cc : conv_cases()) {
    check_conv_case<double>(cc, seed);
    check_conv_case<float>(cc, seed);
    seed += 10;
  }
}

TEST_CASE("ops::conv2d matches the kernel on a non-contiguous input and checks shapes", "[kernels][conv]") {
  Tensor x = randn64({2, 3, 5, 6}, 1).permute({0, 1, 3, 2});  // [2, 3, 6, 5], not contiguous
  Tensor w = randn64({4, 3, 3, 3}, 2), b = randn64({4}, 3);
  ops::Conv2dOptions o;
  o.stride_h = 2;
  o.pad_w = 1;
  Tensor y = ops::conv2d(x, w, b, o);
  REQUIRE(y.shape() == Shape{2, 4, 2, 5});
  Conv2dParams p = ops::conv2d_params(x.shape(), w.shape(), o);
  ConvData d{x.to_vector(), w.to_vector(), b.to_vector(), {}};
  CHECK(rel_error(y.to_vector(), naive_conv_fwd(p, d, true)) < 1e-12);

  auto message = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string m = message([&] { ops::conv2d(x, randn64({4, 2, 3, 3}, 4), Tensor(), o); });
  CHECK(m.find("[2, 3, 6, 5]") != std::string::npos);
  CHECK(m.find("[4, 2, 3, 3]") != std::string::npos);
  o.groups = 2;
  m = message([&] { ops::conv2d(x, w, Tensor(), o); });
  CHECK(m.find("groups") != std::string::npos);
  o.groups = 1;
  m = message([&] { ops::conv2d_bwd_data(randn64({2, 4, 3, 5}, 5), w, x.shape(), o); });
  CHECK(m.find("[2, 4, 3, 5]") != std::string::npos);
  CHECK(m.find("[2, 4, 2, 5]") != std::string::npos);
  CHECK_THROWS_AS(ops::conv2d(randn64({1, 3, 2, 2}, 6), w, Tensor(), ops::Conv2dOptions{}), Error);
}

TEST_CASE("matmul kernel: transposes, leading dimensions, broadcast batch strides", "[kernels][matmul]") {
  const int64_t batch = 3, M = 5, K = 7, N = 4;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int64_t sb_mode : {0, 1}) {  // b shared by the batch (stride 0) or one per batch entry
        INFO("trans_a " << ta << ", trans_b " << tb << ", b broadcast " << (sb_mode == 0));
        // Padded leading dimensions (+2) so that lda/ldb are honoured, not assumed.
        const int64_t lda = (ta ? M : K) + 2, ldb = (tb ? K : N) + 2;
        const int64_t a_rows = ta ? K : M, b_rows = tb ? N : K;
        const std::vector<double> av = random_vec(batch * a_rows * lda, 7), bv = random_vec(batch * b_rows * ldb, 8);
        MatmulParams p;
        p.batch = batch, p.M = M, p.K = K, p.N = N, p.trans_a = ta, p.trans_b = tb, p.lda = lda, p.ldb = ldb;
        p.stride_a = a_rows * lda;
        p.stride_b = sb_mode * b_rows * ldb;
        auto A = [&](int64_t i, int64_t m, int64_t k) {
          return av[size_t(i * p.stride_a + (ta ? k * lda + m : m * lda + k))];
        };
        auto B = [&](int64_t i, int64_t k, int64_t n) {
          return bv[size_t(i * p.stride_b + (tb ? n * ldb + k : k * ldb + n))];
        };
        const std::vector<double> ref = naive_matmul(batch, M, K, N, A, B);
        std::vector<double> c(ref.size(), 1e30);
        matmul_fwd_cpu<double>(c.data(), av.data(), bv.data(), p);
        CHECK(rel_error(c, ref) < 1e-12);
        const std::vector<float> af = cast_vec<float>(av), bf = cast_vec<float>(bv);
        std::vector<float> cf(ref.size(), 1e30f);
        matmul_fwd_cpu<float>(cf.data(), af.data(), bf.data(), p);
        CHECK(rel_error(cf, ref) < 2e-5);
      }
}

TEST_CASE("ops::matmul: batched, broadcast batch dims, 1-D operands and views vs a triple loop", "[kernels][matmul]") {
  struct Case {
    Shape a, b;
  };
  // Each operand is also tried as a transposed view (of a contiguous tensor of the
  // transposed shape) to exercise the trans flags and the copy fallback.
  for (const Case& c : std::vector<Case>{{{4, 3}, {3, 5}},
                                         {{2, 4, 3}, {2, 3, 5}},
                                         {{2, 1, 4, 3}, {3, 3, 5}},
                                         {{2, 4, 3}, {3, 5}},
                                         {{4, 3}, {2, 3, 5}},
                                         {{3}, {2, 3, 5}},
                                         {{2, 4, 3}, {3}},
                                         {{3}, {3}},
                                         {{1, 3}, {3, 1}}}) {
    for (int view : {0, 1, 2, 3}) {
      Tensor a = randn64(c.a, 11), b = randn64(c.b, 12);
      if ((view & 1) && a.dim() >= 2) a = a.transpose(-2, -1).contiguous().transpose(-2, -1);
      if ((view & 2) && b.dim() >= 2) b = b.transpose(-2, -1).contiguous().transpose(-2, -1);
      INFO("a " << shape_str(c.a) << " b " << shape_str(c.b) << " view " << view);
      // Reference: promote, broadcast, triple loop, squeeze.
      Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a, b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
      Shape batch = broadcast_shapes(Shape(a2.shape().begin(), a2.shape().end() - 2),
                                     Shape(b2.shape().begin(), b2.shape().end() - 2), "test");
      const int64_t M = a2.size(-2), K = a2.size(-1), N = b2.size(-1), nb = shape_numel(batch);
      Shape sa = batch, sb = batch;
      sa.insert(sa.end(), {M, K});
      sb.insert(sb.end(), {K, N});
      const std::vector<double> av = a2.expand(sa).to_vector(), bv = b2.expand(sb).to_vector();
      const std::vector<double> ref = naive_matmul(
          nb, M, K, N, [&](int64_t i, int64_t m, int64_t k) { return av[size_t((i * M + m) * K + k)]; },
          [&](int64_t i, int64_t k, int64_t n) { return bv[size_t((i * K + k) * N + n)]; });
      Tensor y = ops::matmul(a, b);
      Shape expect = batch;
      if (a.dim() > 1) expect.push_back(M);
      if (b.dim() > 1) expect.push_back(N);
      CHECK(y.shape() == expect);
      CHECK(rel_error(y.to_vector(), ref) < 1e-12);
      CHECK(rel_error(ops::matmul(a.to(DType::f32), b.to(DType::f32)).to_vector(), ref) < 2e-5);
    }
  }
}

TEST_CASE("ops::matmul on a strided slice and an error naming both shapes", "[kernels][matmul]") {
  Tensor big = randn64({6, 10}, 13);
  Tensor a = big.slice(0, 1, 5).slice(1, 2, 9);  // [4, 7] with leading dimension 10
  Tensor b = randn64({5, 7}, 14).transpose(0, 1);
  std::vector<double> av = a.to_vector(), bv = b.to_vector();
  const std::vector<double> ref = naive_matmul(
      1, 4, 7, 5, [&](int64_t, int64_t m, int64_t k) { return av[size_t(m * 7 + k)]; },
      [&](int64_t, int64_t k, int64_t n) { return bv[size_t(k * 5 + n)]; });
  CHECK(rel_error(ops::matmul(a, b).to_vector(), ref) < 1e-12);
  try {
    ops::matmul(randn64({2, 4, 3}, 1), randn64({4, 5}, 2));
    FAIL("no error");
  } catch (const Error& e) {
    std::string m = e.what();
    CHECK(m.find("[2, 4, 3]") != std::string::npos);
    CHECK(m.find("[4, 5]") != std::string::npos);
  }
  CHECK(ops::matmul(randn64({3, 0}, 3), randn64({0, 2}, 4)).to_vector() == std::vector<double>(6, 0.0));
}

TEST_CASE("linear kernel with and without bias vs loops", "[kernels][linear]") {
  const int64_t N = 5, in = 7, out = 3;
  const std::vector<double> x = random_vec(N * in, 21), w = random_vec(out * in, 22), bias = random_vec(out, 23);
  for (bool with_bias : {true, false}) {
    std::vector<double> ref(static_cast<size_t>(N * out));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < out; ++o) {
        double acc = with_bias ? bias[size_t(o)] : 0.0;
        for (int64_t i = 0; i < in; ++i) acc += x[size_t(n * in + i)] * w[size_t(o * in + i)];
        ref[size_t(n * out + o)] = acc;
      }
    std::vector<double> y(ref.size(), 1e30);
    linear_fwd_cpu<double>(y.data(), x.data(), w.data(), with_bias ? bias.data() : nullptr, N, in, out);
    CHECK(rel_error(y, ref) < 1e-12);
    const std::vector<float> xf = cast_vec<float>(x), wf = cast_vec<float>(w), bf = cast_vec<float>(bias);
    std::vector<float> yf(ref.size(), 1e30f);
    linear_fwd_cpu<float>(yf.data(), xf.data(), wf.data(), with_bias ? bf.data() : nullptr, N, in, out);
    CHECK(rel_error(yf, ref) < 2e-5);
  }
  CHECK_THROWS_AS(ops::linear(randn64({2, 3}, 1), randn64({4, 2}, 2), Tensor()), Error);
  CHECK_THROWS_AS(ops::linear(randn64({2, 3}, 1), randn64({4, 3}, 2), randn64({3}, 3)), Error);
}
