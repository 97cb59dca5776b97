// Batch norm and pooling CPU kernels (through engine::ops) against naive loops.
#include <cmath>
#include <vector>

#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {

using Vec = std::vector<double>;

// Element (n, c, h, w) of a row-major NCHW vector.
struct Nchw {
  int64_t N, C, H, W;
  size_t operator()(int64_t n, int64_t c, int64_t h, int64_t w) const {
    return static_cast<size_t>(((n * C + c) * H + h) * W + w);
  }
};

double max_abs_diff(const Vec& a, const Vec& b) {
  REQUIRE(a.size() == b.size());
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(a[i] - b[i]));
  return e;
}

struct NaiveBn {
  Vec y, mean, invstd, biased_var, unbiased_var;
};

NaiveBn naive_bn_train(const Vec& x, Nchw d, const Vec& gamma, const Vec& beta, double eps) {
  NaiveBn r;
  r.y.assign(x.size(), 0.0);
  double M = double(d.N * d.H * d.W);
  for (int64_t c = 0; c < d.C; ++c) {
    double s = 0, ss = 0;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t h = 0; h < d.H; ++h)
        for (int64_t w = 0; w < d.W; ++w) s += x[d(n, c, h, w)];
    double m = s / M;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t h = 0; h < d.H; ++h)
        for (int64_t w = 0; w < d.W; ++w) ss += (x[d(n, c, h, w)] - m) * (x[d(n, c, h, w)] - m);
    double var = ss / M, is = 1.0 / std::sqrt(var + eps);
    r.mean.push_back(m);
    r.invstd.push_back(is);
    r.biased_var.push_back(var);
    r.unbiased_var.push_back(ss / (M - 1));
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t h = 0; h < d.H; ++h)
        for (int64_t w = 0; w < d.W; ++w)
          r.y[d(n, c, h, w)] = (x[d(n, c, h, w)] - m) * is * gamma[size_t(c)] + beta[size_t(c)];
  }
  return r;
}

}  // namespace

TEST_CASE("batchnorm2d training: batch statistics and running-stat update", "[kernels][norm]") {
  Nchw d{3, 5, 4, 3};
  Shape s{d.N, d.C, d.H, d.W};
  Tensor x = randn64(s, 1, 0.7, 2.0), gamma = randn64({d.C}, 2), beta = randn64({d.C}, 3);
  Tensor rm = randn64({d.C}, 4), rv = uniform64({d.C}, 5, 0.5, 2.0);
  Vec rm0 = rm.to_vector(), rv0 = rv.to_vector();
  const double momentum = 0.3, eps = 1e-3;
  auto out = ops::batchnorm2d(x, gamma, beta, rm, rv, true, momentum, eps);
  NaiveBn ref = naive_bn_train(x.to_vector(), d, gamma.to_vector(), beta.to_vector(), eps);
  CHECK(max_abs_diff(out.y.to_vector(), ref.y) < 1e-12);
  CHECK(max_abs_diff(out.save_mean.to_vector(), ref.mean) < 1e-12);
  CHECK(max_abs_diff(out.save_invstd.to_vector(), ref.invstd) < 1e-12);
  Vec rm_want, rv_want;
  for (size_t c = 0; c < size_t(d.C); ++c) {
    rm_want.push_back((1 - momentum) * rm0[c] + momentum * ref.mean[c]);
    rv_want.push_back((1 - momentum) * rv0[c] + momentum * ref.unbiased_var[c]);  // unbiased, as PyTorch
  }
  CHECK(max_abs_diff(rm.to_vector(), rm_want) < 1e-12);
  CHECK(max_abs_diff(rv.to_vector(), rv_want) < 1e-12);
}

TEST_CASE("batchnorm2d training f32 and without affine parameters", "[kernels][norm]") {
  Nchw d{2, 3, 5, 7};
  Shape s{d.N, d.C, d.H, d.W};
  Tensor x64 = randn64(s, 6, -1.0, 3.0);
  Tensor rm = Tensor::zeros({d.C}), rv = Tensor::ones({d.C});
  auto out = ops::batchnorm2d(x64.to(DType::f32), Tensor(), Tensor(), rm, rv, true, 0.1, 1e-5);
  CHECK(out.y.dtype() == DType::f32);
  NaiveBn ref = naive_bn_train(x64.to_vector(), d, Vec(3, 1.0), Vec(3, 0.0), 1e-5);
  CHECK(max_abs_diff(out.y.to_vector(), ref.y) < 1e-4);
  for (size_t c = 0; c < 3; ++c) {
    CHECK(rm.to_vector()[c] == Approx(0.1 * ref.mean[c]).margin(1e-5));
    CHECK(rv.to_vector()[c] == Approx(0.9 + 0.1 * ref.unbiased_var[c]).epsilon(1e-5));
  }
}

TEST_CASE("batchnorm2d training updates strided running statistics in place", "[kernels][norm]") {
  Tensor buf = Tensor::zeros({2, 4}, DType::f64);
  Tensor rm = buf.select(0, 0).slice(0, 0, 4, 2), rv = buf.select(0, 1).slice(0, 1, 4, 2);  // [2] views, stride 2
  REQUIRE(!rm.is_contiguous());
  Tensor x = randn64({4, 2, 3, 3}, 7);
  auto out = ops::batchnorm2d(x, Tensor(), Tensor(), rm, rv, true, 1.0, 1e-5);  // momentum 1: take the batch
  NaiveBn ref = naive_bn_train(x.to_vector(), Nchw{4, 2, 3, 3}, Vec(2, 1.0), Vec(2, 0.0), 1e-5);
  Vec b = buf.to_vector();
  CHECK(b[0] == Approx(ref.mean[0]));
  CHECK(b[2] == Approx(ref.mean[1]));
  CHECK(b[5] == Approx(ref.unbiased_var[0]));
  CHECK(b[7] == Approx(ref.unbiased_var[1]));
  CHECK(b[1] == 0.0);
  CHECK(b[4] == 0.0);
}

TEST_CASE("batchnorm2d eval uses the running statistics and leaves them alone", "[kernels][norm]") {
  Nchw d{2, 3, 2, 5};
  Shape s{d.N, d.C, d.H, d.W};
  Tensor x = randn64(s, 8, 0.5), gamma = randn64({d.C}, 9), beta = randn64({d.C}, 10);
  Tensor rm = randn64({d.C}, 11), rv = uniform64({d.C}, 12, 0.5, 2.0);
  Vec rm0 = rm.to_vector(), rv0 = rv.to_vector(), xv = x.to_vector(), g = gamma.to_vector(), bt = beta.to_vector();
  const double eps = 1e-5;
  auto out = ops::batchnorm2d(x, gamma, beta, rm, rv, false, 0.1, eps);
  Vec y(xv.size());
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t h = 0; h < d.H; ++h)
        for (int64_t w = 0; w < d.W; ++w) {
          size_t k = d(n, c, h, w), cc = size_t(c);
          y[k] = (xv[k] - rm0[cc]) / std::sqrt(rv0[cc] + eps) * g[cc] + bt[cc];
        }
  CHECK(max_abs_diff(out.y.to_vector(), y) < 1e-12);
  CHECK(rm.to_vector() == rm0);
  CHECK(rv.to_vector() == rv0);
  CHECK(max_abs_diff(out.save_mean.to_vector(), rm0) < 1e-15);
  // A single sample is fine in eval (the batch does not enter the statistics).
  auto one = ops::batchnorm2d(x.slice(0, 0, 1).slice(2, 0, 1).slice(3, 0, 1), gamma, beta, rm, rv, false, 0.1, eps);
  CHECK(one.y.to_vector()[0] == Approx((xv[0] - rm0[0]) / std::sqrt(rv0[0] + eps) * g[0] + bt[0]));
}

TEST_CASE("batchnorm2d_bwd training against the full Jacobian", "[kernels][norm]") {
  Nchw d{2, 3, 3, 2};
  Shape s{d.N, d.C, d.H, d.W};
  Tensor x = randn64(s, 13, 0.3, 1.5), gamma = randn64({d.C}, 14), gy = randn64(s, 15);
  const double eps = 1e-4;
  NaiveBn f = naive_bn_train(x.to_vector(), d, gamma.to_vector(), Vec(3, 0.0), eps);
  auto g = ops::batchnorm2d_bwd(gy, x, gamma, Tensor::from_vector(f.mean, {d.C}, DType::f64),
                                Tensor::from_vector(f.invstd, {d.C}, DType::f64), true);
  Vec xv = x.to_vector(), gv = gy.to_vector(), gm = gamma.to_vector();
  Vec gx(xv.size(), 0.0), gg(3, 0.0), gb(3, 0.0);
  const int64_t M = d.N * d.H * d.W;
  // Flat list of the element indices of each channel.
  for (int64_t c = 0; c < d.C; ++c) {
    std::vector<size_t> idx;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t h = 0; h < d.H; ++h)
        for (int64_t w = 0; w < d.W; ++w) idx.push_back(d(n, c, h, w));
    size_t cc = size_t(c);
    auto xhat = [&](size_t k) { return (xv[k] - f.mean[cc]) * f.invstd[cc]; };
    // dy_j / dx_i = gamma invstd (delta_ij - 1/M - xhat_i xhat_j / M)
    for (size_t i : idx) {
      double acc = 0;
      for (size_t j : idx)
        acc += gv[j] * gm[cc] * f.invstd[cc] * ((i == j ? 1.0 : 0.0) - 1.0 / double(M) - xhat(i) * xhat(j) / double(M));
      gx[i] = acc;
      gg[cc] += gv[i] * xhat(i);
      gb[cc] += gv[i];
    }
  }
  CHECK(max_abs_diff(g.gx.to_vector(), gx) < 1e-12);
  CHECK(max_abs_diff(g.ggamma.to_vector(), gg) < 1e-12);
  CHECK(max_abs_diff(g.gbeta.to_vector(), gb) < 1e-12);
}

TEST_CASE("batchnorm2d_bwd eval: statistics are constants", "[kernels][norm]") {
  Shape s{3, 2, 2, 2};
  Tensor x = randn64(s, 16), gamma = randn64({2}, 17), gy = randn64(s, 18);
  Tensor mean = randn64({2}, 19), invstd = uniform64({2}, 20, 0.5, 2.0);
  auto g = ops::batchnorm2d_bwd(gy, x, gamma, mean, invstd, false);
  Vec gv = gy.to_vector(), xv = x.to_vector(), gm = gamma.to_vector(), mv = mean.to_vector(), iv = invstd.to_vector();
  Vec gx(gv.size()), gg(2, 0.0), gb(2, 0.0);
  for (size_t k = 0; k < gv.size(); ++k) {
    size_t c = (k / 4) % 2;
    gx[k] = gv[k] * gm[c] * iv[c];
    gg[c] += gv[k] * (xv[k] - mv[c]) * iv[c];
    gb[c] += gv[k];
  }
  CHECK(max_abs_diff(g.gx.to_vector(), gx) < 1e-12);
  CHECK(max_abs_diff(g.ggamma.to_vector(), gg) < 1e-12);
  CHECK(max_abs_diff(g.gbeta.to_vector(), gb) < 1e-12);
}

TEST_CASE("batchnorm2d rejects bad inputs", "[kernels][norm]") {
  Tensor x = randn64({1, 3, 1, 1}, 21);
  Tensor rm = Tensor::zeros({3}, DType::f64), rv = Tensor::ones({3}, DType::f64);
  CHECK_THROWS_WITH(ops::batchnorm2d(x, Tensor(), Tensor(), rm, rv, true, 0.1, 1e-5),
                    Catch::Contains("more than one value per channel"));
  CHECK_THROWS_WITH(ops::batchnorm2d(randn64({2, 3, 2, 2}, 22), randn64({4}, 23), Tensor(), rm, rv, true, 0.1, 1e-5),
                    Catch::Contains("gamma must have shape [3]"));
  CHECK_THROWS_WITH(
      ops::batchnorm2d(randn64({2, 3, 2, 2}, 24), Tensor(), Tensor(), Tensor(), Tensor(), false, 0.1, 1e-5),
      Catch::Contains("running_mean is required"));
  CHECK_THROWS_WITH(ops::batchnorm2d(randn64({2, 3, 4}, 25), Tensor(), Tensor(), rm, rv, true, 0.1, 1e-5),
                    Catch::Contains("NCHW"));
  CHECK_THROWS_WITH(
      ops::batchnorm2d(randn64({2, 3, 2, 2}, 26), Tensor(), Tensor(), Tensor::zeros({3}), rv, true, 0.1, 1e-5),
      Catch::Contains("dtype"));
}

namespace {

struct NaivePool {
  Vec y;
  std::vector<int64_t> idx;
};

// Direct window scan over the padded input: out-of-bounds positions are skipped
// for max, and counted (or not) for the average.
NaivePool naive_pool(const Vec& x, Nchw d, const ops::Pool2dOptions& o, bool is_max) {
  int64_t P = (d.H + 2 * o.ph - o.kh) / o.sh + 1, Q = (d.W + 2 * o.pw - o.kw) / o.sw + 1;
  NaivePool r;
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q) {
          double best = -INFINITY, sum = 0;
          int64_t bi = -1, cnt = 0;
          for (int64_t i = 0; i < o.kh; ++i)
            for (int64_t j = 0; j < o.kw; ++j) {
              int64_t h = p * o.sh - o.ph + i, w = q * o.sw - o.pw + j;
              if (h < 0 || h >= d.H || w < 0 || w >= d.W) continue;
              double v = x[d(n, c, h, w)];
              if (bi < 0 || v > best) {
                best = v;
                bi = h * d.W + w;
              }
              sum += v;
              ++cnt;
            }
          r.y.push_back(is_max ? best : sum / double(o.count_include_pad ? o.kh * o.kw : cnt));
          r.idx.push_back(bi);
        }
  return r;
}

}  // namespace

TEST_CASE("pool2d_params: output size and rejected configurations", "[kernels][pool]") {
  ops::Pool2dOptions o{3, 3, 2, 2, 1, 1, true};
  auto p = ops::pool2d_params({2, 3, 7, 8}, o);
  CHECK(p.P == 4);  // (7 + 2 - 3) / 2 + 1
  CHECK(p.Q == 4);  // (8 + 2 - 3) / 2 + 1 (floor)
  CHECK_THROWS_WITH(ops::pool2d_params({2, 3, 7, 8}, ops::Pool2dOptions{2, 2, 1, 1, 2, 0, true}),
                    Catch::Contains("at most half the kernel"));
  CHECK_THROWS_WITH(ops::pool2d_params({2, 3, 2, 8}, ops::Pool2dOptions{3, 3, 1, 1, 0, 0, true}),
                    Catch::Contains("larger than the padded input"));
  CHECK_THROWS_WITH(ops::pool2d_params({2, 3, 7}, o), Catch::Contains("NCHW"));
  CHECK_THROWS(ops::pool2d_params({2, 3, 7, 8}, ops::Pool2dOptions{2, 2, 0, 2, 0, 0, true}));
}

TEST_CASE("maxpool2d forward and backward against naive loops", "[kernels][pool]") {
  Nchw d{2, 3, 7, 6};
  Shape s{d.N, d.C, d.H, d.W};
  for (ops::Pool2dOptions o : {ops::Pool2dOptions{2, 2, 2, 2, 0, 0, true}, ops::Pool2dOptions{3, 3, 2, 2, 1, 1, true},
                               ops::Pool2dOptions{3, 2, 1, 2, 1, 0, true}}) {
    INFO("kernel " << o.kh << "x" << o.kw << " stride " << o.sh << "x" << o.sw << " pad " << o.ph << "x" << o.pw);
    Tensor x = randn64(s, 30);
    NaivePool ref = naive_pool(x.to_vector(), d, o, true);
    auto out = ops::maxpool2d(x, o);
    CHECK(max_abs_diff(out.y.to_vector(), ref.y) == 0.0);
    CHECK(out.indices.to_vector_as<int64_t>() == ref.idx);
    auto out32 = ops::maxpool2d(x.to(DType::f32), o);
    CHECK(max_abs_diff(out32.y.to_vector(), ref.y) < 1e-6);
    CHECK(out32.indices.to_vector_as<int64_t>() == ref.idx);

    Tensor gy = randn64(out.y.shape(), 31);
    Vec gv = gy.to_vector(), gx(static_cast<size_t>(x.numel()), 0.0);
    int64_t pq = out.y.size(2) * out.y.size(3);
    for (size_t k = 0; k < gv.size(); ++k) gx[(k / size_t(pq)) * size_t(d.H * d.W) + size_t(ref.idx[k])] += gv[k];
    CHECK(max_abs_diff(ops::maxpool2d_bwd(gy, out.indices, s, o).to_vector(), gx) < 1e-14);
  }
}

TEST_CASE("maxpool2d ties: the first maximum in window scan order wins and takes the gradient", "[kernels][pool]") {
  // One 4x4 plane; 2x2 windows with stride 2 hold ties in different places.
  Tensor x = Tensor::from_vector({1, 1, 0, 5,  //
                                  1, 1, 5, 5,  //
                                  2, 3, 7, 7,  //
                                  3, 3, 7, 7},
                                 {1, 1, 4, 4}, DType::f64);
  ops::Pool2dOptions o{2, 2, 2, 2, 0, 0, true};
  auto out = ops::maxpool2d(x, o);
  CHECK(out.y.to_vector() == Vec{1, 5, 3, 7});
  CHECK(out.indices.to_vector_as<int64_t>() == std::vector<int64_t>{0, 3, 9, 10});
  Tensor gx = ops::maxpool2d_bwd(Tensor::ones({1, 1, 2, 2}, DType::f64), out.indices, x.shape(), o);
  CHECK(gx.to_vector() == Vec{1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0});
  // Overlapping windows (3x3 stride 1) on a constant plane: each window's top-left wins.
  auto c = ops::maxpool2d(Tensor::full({1, 1, 4, 4}, 2.0, DType::f32), ops::Pool2dOptions{3, 3, 1, 1, 0, 0, true});
  CHECK(c.indices.to_vector_as<int64_t>() == std::vector<int64_t>{0, 1, 4, 5});
  // Padding never wins, even against negative values.
  auto neg = ops::maxpool2d(Tensor::full({1, 1, 2, 2}, -3.0, DType::f64), ops::Pool2dOptions{2, 2, 2, 2, 1, 1, true});
  CHECK(neg.y.to_vector() == Vec{-3, -3, -3, -3});
  CHECK(neg.indices.to_vector_as<int64_t>() == std::vector<int64_t>{0, 1, 2, 3});
}

TEST_CASE("maxpool2d propagates NaN", "[kernels][pool]") {
  Tensor x = Tensor::from_vector({1, NAN, 3, 2}, {1, 1, 2, 2}, DType::f64);
  auto out = ops::maxpool2d(x, ops::Pool2dOptions{2, 2, 2, 2, 0, 0, true});
  CHECK(std::isnan(out.y.to_vector()[0]));
  CHECK(out.indices.to_vector_as<int64_t>()[0] == 1);
}

TEST_CASE("avgpool2d forward and backward against naive loops, both divisors", "[kernels][pool]") {
  Nchw d{2, 2, 5, 7};
  Shape s{d.N, d.C, d.H, d.W};
  for (bool include : {true, false})
    for (ops::Pool2dOptions o :
         {ops::Pool2dOptions{2, 2, 2, 2, 0, 0, include}, ops::Pool2dOptions{3, 3, 2, 2, 1, 1, include},
          ops::Pool2dOptions{3, 2, 1, 2, 1, 1, include}}) {
      INFO("kernel " << o.kh << "x" << o.kw << " stride " << o.sh << "x" << o.sw << " pad " << o.ph << "x" << o.pw
                     << " count_include_pad " << include);
      Tensor x = randn64(s, 40);
      NaivePool ref = naive_pool(x.to_vector(), d, o, false);
      Tensor y = ops::avgpool2d(x, o);
      CHECK(max_abs_diff(y.to_vector(), ref.y) < 1e-14);
      CHECK(max_abs_diff(ops::avgpool2d(x.to(DType::f32), o).to_vector(), ref.y) < 1e-6);

      // Backward as the transpose of the forward: <avgpool(x), gy> = <x, avgpool_bwd(gy)> for all x,
      // checked column by column through the naive forward on unit inputs.
      Tensor gy = randn64(y.shape(), 41);
      Vec gv = gy.to_vector(), gx(static_cast<size_t>(x.numel()));
      for (size_t k = 0; k < gx.size(); ++k) {
        Vec e(gx.size(), 0.0);
        e[k] = 1.0;
        Vec col = naive_pool(e, d, o, false).y;
        double acc = 0;
        for (size_t j = 0; j < col.size(); ++j) acc += col[j] * gv[j];
        gx[k] = acc;
      }
      CHECK(max_abs_diff(ops::avgpool2d_bwd(gy, s, o).to_vector(), gx) < 1e-14);
    }
}

TEST_CASE("avgpool2d divisor at a padded corner", "[kernels][pool]") {
  Tensor x = Tensor::full({1, 1, 3, 3}, 1.0, DType::f64);
  ops::Pool2dOptions o{3, 3, 2, 2, 1, 1, true};
  CHECK(ops::avgpool2d(x, o).to_vector() == Vec{4.0 / 9, 4.0 / 9, 4.0 / 9, 4.0 / 9});
  o.count_include_pad = false;
  CHECK(ops::avgpool2d(x, o).to_vector() == Vec{1, 1, 1, 1});
}

TEST_CASE("global_avgpool against a naive mean, f32 and f64, non-contiguous input", "[kernels][pool]") {
  Tensor x = randn64({3, 4, 5, 2}, 50).permute({0, 1, 3, 2});  // [3, 4, 2, 5] view
  Tensor c = x.contiguous();
  Vec xv = c.to_vector(), want;
  for (size_t pl = 0; pl < 12; ++pl) {
    double s = 0;
    for (size_t i = 0; i < 10; ++i) s += xv[pl * 10 + i];
    want.push_back(s / 10);
  }
  Tensor y = ops::global_avgpool(x);
  CHECK(y.shape() == Shape{3, 4});
  CHECK(max_abs_diff(y.to_vector(), want) < 1e-14);
  CHECK(max_abs_diff(ops::global_avgpool(x.to(DType::f32)).to_vector(), want) < 1e-6);
  CHECK_THROWS_WITH(ops::global_avgpool(randn64({3, 4}, 51)), Catch::Contains("NCHW"));
}
