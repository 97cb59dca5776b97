// Channels-last memory format: the tensor helpers, format preservation through the
// elementwise ops and the conv / batchnorm / pool family, and the NHWC CPU kernels
// against the NCHW reference kernels on the same values.
#include "kernels/cpu/norm.h"
#include "kernels/cpu/pool.h"
#include "test_util.h"

using namespace engine;
using engine::testing::distinct64;
using engine::testing::randn64;

namespace {

constexpr MemoryFormat kCL = MemoryFormat::ChannelsLast;

bool is_cl(const Tensor& t) { return t.suggest_memory_format() == kCL; }

// Same shape and every value equal (bit for bit: the paths add in the same order or
// are expected to agree to rounding, see tol).
void check_close(const Tensor& a, const Tensor& b, double tol = 0.0) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> va = a.to_vector(), vb = b.to_vector();
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::abs(va[i] - vb[i]));
  INFO("max abs difference " << worst);
  CHECK(worst <= tol);
}

// The [N, H, W, C] buffer of an NCHW tensor, as a flat row-major copy.
Tensor nhwc_buffer(const Tensor& x) { return x.permute({0, 2, 3, 1}).contiguous(); }

}  // namespace

TEST_CASE("channels-last strides, contiguity queries and conversion", "[core][memory_format]") {
  Tensor x = randn64({2, 3, 4, 5}, 1);
  CHECK(memory_format_strides({2, 3, 4, 5}, kCL) == Strides{60, 1, 15, 3});
  CHECK(x.is_contiguous(MemoryFormat::Contiguous));
  CHECK_FALSE(x.is_contiguous(kCL));
  CHECK(x.suggest_memory_format() == MemoryFormat::Contiguous);

  Tensor y = x.contiguous(kCL);
  CHECK(y.strides() == Strides{60, 1, 15, 3});
  CHECK(y.is_contiguous(kCL));
  CHECK_FALSE(y.is_contiguous());
  CHECK(is_cl(y));
  CHECK(y.is_non_overlapping_and_dense());
  check_close(y, x);
  CHECK(y.contiguous(kCL).shares_storage(y));  // already channels-last: no copy
  Tensor back = y.contiguous();
  CHECK(back.is_contiguous());
  check_close(back, x);
  // The permuted view of an NHWC buffer is channels-last without a copy.
  Tensor v = nhwc_buffer(x).permute({0, 3, 1, 2});
  CHECK(is_cl(v));
  check_close(v, x);

  // C == 1 and H == W == 1 satisfy both formats; the exact strides say which one was made.
  Tensor g = randn64({2, 1, 4, 4}, 2);
  CHECK(g.is_contiguous(kCL));
  CHECK(g.suggest_memory_format() == MemoryFormat::Contiguous);
  Tensor gl = g.contiguous(kCL);
  CHECK(gl.strides() == Strides{16, 1, 4, 1});
  CHECK(is_cl(gl));
  CHECK(is_cl(randn64({3, 5, 1, 1}, 3).contiguous(kCL)));

  CHECK_FALSE(randn64({3, 4}, 4).is_contiguous(kCL));
  CHECK_THROWS_WITH(randn64({3, 4}, 4).contiguous(kCL), Catch::Contains("4-D"));
  CHECK_FALSE(x.expand({2, 3, 4, 5}).slice(3, 0, 4).is_non_overlapping_and_dense());
  CHECK_THROWS_WITH(Tensor::empty_strided({2, 3}, {1, 1}), Catch::Contains("not dense"));
  // Casts keep the format (autocast casts activations), row-major stays row-major.
  Tensor yf = y.to(DType::f32);
  CHECK(is_cl(yf));
  check_close(yf, x.to(DType::f32));
  CHECK(x.to(DType::f32).is_contiguous());
  Variable vc = ag::cast(Variable(y, true), DType::f32);
  CHECK(is_cl(vc.data()));
  Tensor e = Tensor::empty({2, 3, 4, 5}, kCL, DType::f32);
  CHECK(e.strides() == Strides{60, 1, 15, 3});
  CHECK(std::string(memory_format_name(kCL)) == "channels_last");
}

TEST_CASE("elementwise ops keep the strides of dense inputs that agree", "[core][memory_format]") {
  Tensor a = randn64({2, 3, 4, 5}, 5), b = randn64({2, 3, 4, 5}, 6);
  Tensor al = a.contiguous(kCL), bl = b.contiguous(kCL);

  Tensor r = ops::relu(al);
  CHECK(is_cl(r));
  check_close(r, ops::relu(a));
  Tensor s = ops::add(al, bl);
  CHECK(is_cl(s));
  check_close(s, ops::add(a, b));
  // Broadcast operands (a per-channel scale, a scalar) follow the full-shape input.
  Tensor scale = randn64({1, 3, 1, 1}, 7);
  Tensor m = ops::mul(al, scale);
  CHECK(is_cl(m));
  check_close(m, ops::mul(a, scale));
  CHECK(is_cl(ops::mul(al, 0.5)));
  CHECK(is_cl(ops::compare(kernels::CompareOp::Gt, al, bl)));
  check_close(ops::compare(kernels::CompareOp::Gt, al, bl), ops::compare(kernels::CompareOp::Gt, a, b));
  Tensor w = ops::where(ops::compare(kernels::CompareOp::Gt, al, bl), al, bl);
  CHECK(is_cl(w));
  check_close(w, ops::maximum(a, b));
  // Mixed layouts fall back to row-major (still correct).
  Tensor mixed = ops::sub(al, b);
  CHECK(mixed.is_contiguous());
  check_close(mixed, ops::sub(a, b));
  // A strided (non-dense) input also gives a row-major output.
  Tensor sl = randn64({2, 3, 4, 10}, 8).slice(3, 0, 10, 2);
  CHECK(ops::neg(sl).is_contiguous());

  Tensor gy = randn64({2, 3, 4, 5}, 9);
  Tensor ab = ops::activation_bwd(kernels::ActivationKind::Relu, gy.contiguous(kCL), al);
  CHECK(is_cl(ab));
  check_close(ab, ops::activation_bwd(kernels::ActivationKind::Relu, gy, a));
  check_close(ops::activation_bwd(kernels::ActivationKind::Tanh, gy, al),
              ops::activation_bwd(kernels::ActivationKind::Tanh, gy, a));
}

TEST_CASE("conv2d, batchnorm and pools give channels-last outputs for channels-last inputs", "[core][memory_format]") {
  for (uint64_t seed : {11u, 12u}) {
    Tensor x = randn64({2, 5, 7, 6}, seed), xl = x.contiguous(kCL);
    Tensor w = randn64({4, 5, 3, 3}, seed + 1), bias = randn64({4}, seed + 2);
    ops::Conv2dOptions co;
    co.stride_h = 2;
    co.pad_h = co.pad_w = 1;
    Tensor y = ops::conv2d(x, w, bias, co), yl = ops::conv2d(xl, w, bias, co);
    CHECK(is_cl(yl));
    check_close(yl, y);
    Tensor gy = randn64(y.shape(), seed + 3);
    Tensor gxl = ops::conv2d_bwd_data(gy.contiguous(kCL), w, x.shape(), co);
    CHECK(is_cl(gxl));
    check_close(gxl, ops::conv2d_bwd_data(gy, w, x.shape(), co));
    Tensor gw = ops::conv2d_bwd_filter(gy, x, w.shape(), co);
    Tensor gwl = ops::conv2d_bwd_filter(gy, xl, w.shape(), co);
    CHECK(gwl.is_contiguous());
    check_close(gwl, gw);

    Tensor gamma = randn64({5}, seed + 4), beta = randn64({5}, seed + 5);
    for (bool training : {true, false}) {
      Tensor rm = randn64({5}, seed + 6), rv = ops::add(ops::mul(randn64({5}, seed + 7), 0.1), 1.0);
      Tensor rml = rm.clone(), rvl = rv.clone();
      ops::BatchNormOutput o = ops::batchnorm2d(x, gamma, beta, rm, rv, training, 0.1, 1e-5);
      ops::BatchNormOutput ol = ops::batchnorm2d(xl, gamma, beta, rml, rvl, training, 0.1, 1e-5);
      CHECK(is_cl(ol.y));
      check_close(ol.y, o.y, 1e-12);
      check_close(ol.save_mean, o.save_mean, 1e-12);
      check_close(ol.save_invstd, o.save_invstd, 1e-12);
      check_close(rml, rm, 1e-12);
      check_close(rvl, rv, 1e-12);
      Tensor gb = randn64(x.shape(), seed + 8);
      ops::BatchNormGrads g = ops::batchnorm2d_bwd(gb, x, gamma, o.save_mean, o.save_invstd, training);
      ops::BatchNormGrads gl = ops::batchnorm2d_bwd(gb, xl, gamma, o.save_mean, o.save_invstd, training);
      CHECK(is_cl(gl.gx));
      check_close(gl.gx, g.gx, 1e-12);
      check_close(gl.ggamma, g.ggamma, 1e-12);
      check_close(gl.gbeta, g.gbeta, 1e-12);
    }

    Tensor xd = distinct64({2, 5, 7, 6}, seed), xdl = xd.contiguous(kCL);
    ops::Pool2dOptions po;
    po.kh = po.kw = 3;
    po.sh = po.sw = 2;
    po.ph = po.pw = 1;
    ops::MaxPoolOutput mp = ops::maxpool2d(xd, po), mpl = ops::maxpool2d(xdl, po);
    CHECK(is_cl(mpl.y));
    CHECK(is_cl(mpl.indices));
    check_close(mpl.y, mp.y);
    check_close(mpl.indices, mp.indices);
    Tensor gp = randn64(mp.y.shape(), seed + 9);
    Tensor gmx = ops::maxpool2d_bwd(gp, mp.indices, xd.shape(), po);
    Tensor gmxl = ops::maxpool2d_bwd(gp.contiguous(kCL), mpl.indices, xd.shape(), po);
    CHECK(is_cl(gmxl));
    check_close(gmxl, gmx);
    // A row-major gradient with channels-last indices still lands in the right places.
    check_close(ops::maxpool2d_bwd(gp, mpl.indices, xd.shape(), po), gmx);

    for (bool include_pad : {true, false}) {
      po.count_include_pad = include_pad;
      Tensor ap = ops::avgpool2d(x, po), apl = ops::avgpool2d(xl, po);
      CHECK(is_cl(apl));
      check_close(apl, ap, 1e-12);
      Tensor ga = randn64(ap.shape(), seed + 10);
      Tensor gal = ops::avgpool2d_bwd(ga.contiguous(kCL), x.shape(), po);
      CHECK(is_cl(gal));
      check_close(gal, ops::avgpool2d_bwd(ga, x.shape(), po), 1e-12);
    }
    Tensor gap = ops::global_avgpool(xl);
    CHECK(gap.shape() == Shape{2, 5});
    check_close(gap, ops::global_avgpool(x), 1e-12);
  }
}

TEST_CASE("NHWC CPU kernels match the NCHW kernels on the same values", "[core][memory_format]") {
  for (uint64_t seed : {21u, 22u, 23u}) {
    const int64_t N = 3, C = 37, H = 5, W = 3;  // C over two channel blocks, odd sizes
    Tensor x = randn64({N, C, H, W}, seed, 0.5, 2.0), xn = nhwc_buffer(x);
    Tensor gamma = randn64({C}, seed + 1), beta = randn64({C}, seed + 2);
    kernels::BatchNormParams p;
    p.N = N;
    p.C = C;
    p.HW = H * W;
    Tensor y = Tensor::full({N, C, H, W}, -7.0, DType::f64), yn = Tensor::full({N, H, W, C}, -7.0, DType::f64);
    Tensor m = Tensor::zeros({C}, DType::f64), is = Tensor::zeros({C}, DType::f64);
    Tensor mn = Tensor::zeros({C}, DType::f64), isn = Tensor::zeros({C}, DType::f64);
    Tensor rm = Tensor::zeros({C}, DType::f64), rv = Tensor::ones({C}, DType::f64);
    Tensor rmn = rm.clone(), rvn = rv.clone();
    kernels::batchnorm2d_fwd_cpu<double>(p, y.data<double>(), m.data<double>(), is.data<double>(), x.data<double>(),
                                         gamma.data<double>(), beta.data<double>(), rm.data<double>(),
                                         rv.data<double>());
    kernels::BatchNormParams pn = p;
    pn.channels_last = true;
    kernels::batchnorm2d_fwd_cpu<double>(pn, yn.data<double>(), mn.data<double>(), isn.data<double>(),
                                         xn.data<double>(), gamma.data<double>(), beta.data<double>(),
                                         rmn.data<double>(), rvn.data<double>());
    check_close(yn, nhwc_buffer(y), 1e-12);
    check_close(mn, m, 1e-12);
    check_close(isn, is, 1e-12);
    check_close(rmn, rm, 1e-12);
    check_close(rvn, rv, 1e-12);

    Tensor gy = randn64({N, C, H, W}, seed + 3), gyn = nhwc_buffer(gy);
    Tensor gx = Tensor::full({N, C, H, W}, -7.0, DType::f64), gxn = Tensor::full({N, H, W, C}, -7.0, DType::f64);
    Tensor gg = Tensor::zeros({C}, DType::f64), gb = Tensor::zeros({C}, DType::f64);
    Tensor ggn = Tensor::zeros({C}, DType::f64), gbn = Tensor::zeros({C}, DType::f64);
    kernels::batchnorm2d_bwd_cpu<double>(p, gx.data<double>(), gg.data<double>(), gb.data<double>(), gy.data<double>(),
                                         x.data<double>(), gamma.data<double>(), m.data<double>(), is.data<double>());
    kernels::batchnorm2d_bwd_cpu<double>(pn, gxn.data<double>(), ggn.data<double>(), gbn.data<double>(),
                                         gyn.data<double>(), xn.data<double>(), gamma.data<double>(), m.data<double>(),
                                         is.data<double>());
    check_close(gxn, nhwc_buffer(gx), 1e-12);
    check_close(ggn, gg, 1e-12);
    check_close(gbn, gb, 1e-12);

    // Pools: a 2x2 stride-1 window with padding 1 on a 5x3 plane (clipped windows).
    kernels::Pool2dParams q;
    q.N = N;
    q.C = C;
    q.H = H;
    q.W = W;
    q.kh = q.kw = 2;
    q.ph = q.pw = 1;
    q.P = H + 1;
    q.Q = W + 1;
    q.count_include_pad = seed % 2 == 0;
    kernels::Pool2dParams qn = q;
    qn.channels_last = true;
    Tensor xd = distinct64({N, C, H, W}, seed), xdn = nhwc_buffer(xd);
    Tensor py = Tensor::empty({N, C, q.P, q.Q}, DType::f64), pyn = Tensor::empty({N, q.P, q.Q, C}, DType::f64);
    Tensor pi = Tensor::empty({N, C, q.P, q.Q}, DType::i64), pin = Tensor::empty({N, q.P, q.Q, C}, DType::i64);
    kernels::maxpool2d_fwd_cpu<double>(q, py.data<double>(), pi.data<int64_t>(), xd.data<double>());
    kernels::maxpool2d_fwd_cpu<double>(qn, pyn.data<double>(), pin.data<int64_t>(), xdn.data<double>());
    check_close(pyn, nhwc_buffer(py));
    check_close(pin, nhwc_buffer(pi));
    Tensor pg = randn64({N, C, q.P, q.Q}, seed + 4), pgn = nhwc_buffer(pg);
    Tensor pgx = Tensor::full({N, C, H, W}, -7.0, DType::f64), pgxn = Tensor::full({N, H, W, C}, -7.0, DType::f64);
    kernels::maxpool2d_bwd_cpu<double>(q, pgx.data<double>(), pg.data<double>(), pi.data<int64_t>());
    kernels::maxpool2d_bwd_cpu<double>(qn, pgxn.data<double>(), pgn.data<double>(), pin.data<int64_t>());
    check_close(pgxn, nhwc_buffer(pgx), 1e-12);
    kernels::avgpool2d_fwd_cpu<double>(q, py.data<double>(), x.data<double>());
    kernels::avgpool2d_fwd_cpu<double>(qn, pyn.data<double>(), xn.data<double>());
    check_close(pyn, nhwc_buffer(py), 1e-12);
    pgx.fill_(-7.0);
    pgxn.fill_(-7.0);
    kernels::avgpool2d_bwd_cpu<double>(q, pgx.data<double>(), pg.data<double>());
    kernels::avgpool2d_bwd_cpu<double>(qn, pgxn.data<double>(), pgn.data<double>());
    check_close(pgxn, nhwc_buffer(pgx), 1e-12);
    Tensor gap = Tensor::empty({N, C}, DType::f64), gapn = Tensor::empty({N, C}, DType::f64);
    kernels::global_avgpool_fwd_cpu<double>(gap.data<double>(), x.data<double>(), N, C, H * W, false);
    kernels::global_avgpool_fwd_cpu<double>(gapn.data<double>(), xn.data<double>(), N, C, H * W, true);
    check_close(gapn, gap, 1e-12);
  }
}

TEST_CASE("the f32 path keeps channels-last through a small conv-bn-relu-pool chain", "[core][memory_format]") {
  Tensor x = randn64({2, 3, 8, 8}, 31).to(DType::f32);
  Tensor w = randn64({6, 3, 3, 3}, 32).to(DType::f32);
  ops::Conv2dOptions co;
  co.pad_h = co.pad_w = 1;
  auto chain = [&](const Tensor& in) {
    Tensor h = ops::conv2d(in, w, Tensor(), co);
    h = ops::batchnorm2d(h, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5).y;
    h = ops::relu(h);
    ops::Pool2dOptions po;
    po.kh = po.kw = po.sh = po.sw = 2;
    return ops::maxpool2d(h, po).y;
  };
  Tensor ref = chain(x), got = chain(x.contiguous(kCL));
  CHECK(is_cl(got));
  check_close(got, ref, 1e-5);
}
