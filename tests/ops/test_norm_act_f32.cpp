// The vectorised f32 batch norm with fused epilogue (kernels/cpu/norm_act_f32.cpp, the
// CPU path of f32 BATCHNORM2D_ACT and BATCHNORM2D) against the double reference loops
// (batchnorm2d_act_*_ref<double>) on the same values: NCHW and channels-last, training
// and eval, with and without relu, residual, gamma/beta and the optional gradients, over
// shapes that cross the kernels' block sizes and threading threshold, and inputs whose
// mean is far from zero (the shifted sums).
#include <cmath>
#include <random>
#include <sstream>
#include <vector>

#include "kernels/cpu/norm_act.h"
#include "test_util.h"

using namespace engine;

namespace {

using Vec = std::vector<double>;

Vec random_vec(size_t n, uint64_t seed, double mean, double stddev) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> d(mean, stddev);
  Vec v(n);
  for (double& x : v) x = double(float(d(gen)));  // exact in f32
  return v;
}

std::vector<float> to_f32(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }

// max |a - b| / max(1, max |b|)
double norm_err(const std::vector<float>& a, const Vec& b) {
  double num = 0, den = 1;
  for (size_t i = 0; i < b.size(); ++i) {
    num = std::max(num, std::abs(double(a[i]) - b[i]));
    den = std::max(den, std::abs(b[i]));
  }
  return num / den;
}

struct Case {
  int64_t N, C, H, W;
  double mean = 0.0;
};

struct Flags {
  bool cl, training, relu, residual, affine;
};

std::string describe(const Case& s, const Flags& f) {
  std::ostringstream os;
  os << "x " << s.N << "x" << s.C << "x" << s.H << "x" << s.W << " mean " << s.mean
     << (f.cl ? " channels-last" : " NCHW") << (f.training ? " training" : " eval") << (f.relu ? " relu" : "")
     << (f.residual ? " residual" : "") << (f.affine ? " affine" : " no-affine");
  return os.str();
}

// f32 results within this normalised error of the double reference: the f32 kernel
// rounds inputs, statistics and outputs to f32 and sums in blocks.
constexpr double kTol = 2e-5;

void check_case(const Case& s, const Flags& f, uint64_t seed) {
  kernels::BatchNormActParams p;
  p.N = s.N;
  p.C = s.C;
  p.HW = s.H * s.W;
  p.training = f.training;
  p.relu = f.relu;
  p.channels_last = f.cl;
  const size_t n = size_t(p.N * p.C * p.HW), C = size_t(p.C);
  const Vec x = random_vec(n, seed, s.mean, 1.5), res = random_vec(n, seed + 1, 0.0, 1.0),
            gamma = random_vec(C, seed + 2, 1.0, 0.3), beta = random_vec(C, seed + 3, 0.0, 0.5),
            gy = random_vec(n, seed + 4, 0.0, 1.0);
  Vec rm = random_vec(C, seed + 5, s.mean, 0.1), rv(C);
  for (size_t c = 0; c < C; ++c) rv[c] = double(float(2.0 + 0.1 * double(c % 7)));
  // Reference, in double.
  Vec y(n), sm(C), si(C), rm_d = rm, rv_d = rv;
  kernels::batchnorm2d_act_fwd_ref<double>(p, y.data(), sm.data(), si.data(), x.data(),
                                           f.residual ? res.data() : nullptr, f.affine ? gamma.data() : nullptr,
                                           f.affine ? beta.data() : nullptr, rm_d.data(), rv_d.data());
  Vec gx(n), gg(C), gb(C), gr(n);
  kernels::batchnorm2d_act_bwd_ref<double>(p, gx.data(), gg.data(), gb.data(), f.residual ? gr.data() : nullptr,
                                           gy.data(), y.data(), x.data(), f.affine ? gamma.data() : nullptr, sm.data(),
                                           si.data());
  // The f32 kernels.
  auto xf = to_f32(x), resf = to_f32(res), gammaf = to_f32(gamma), betaf = to_f32(beta), gyf = to_f32(gy);
  std::vector<float> yf(n), smf(C), sif(C), rmf = to_f32(rm), rvf = to_f32(rv);
  kernels::batchnorm2d_act_fwd_cpu<float>(p, yf.data(), smf.data(), sif.data(), xf.data(),
                                          f.residual ? resf.data() : nullptr, f.affine ? gammaf.data() : nullptr,
                                          f.affine ? betaf.data() : nullptr, rmf.data(), rvf.data());
  std::vector<float> gxf(n), ggf(C), gbf(C), grf(n);
  kernels::batchnorm2d_act_bwd_cpu<float>(p, gxf.data(), ggf.data(), gbf.data(), f.residual ? grf.data() : nullptr,
                                          gyf.data(), yf.data(), xf.data(), f.affine ? gammaf.data() : nullptr,
                                          smf.data(), sif.data());
  INFO(describe(s, f));
  CHECK(norm_err(yf, y) < kTol);
  CHECK(norm_err(smf, sm) < kTol);
  CHECK(norm_err(sif, si) < kTol);
  CHECK(norm_err(rmf, rm_d) < kTol);
  CHECK(norm_err(rvf, rv_d) < kTol);
  // Gradient sums run over N*H*W terms; relu masks decided on f32 and double outputs may
  // differ where y is within rounding of 0, so the tolerance scales with the count.
  const double gtol = kTol * std::sqrt(double(p.N * p.HW));
  CHECK(norm_err(gxf, gx) < gtol);
  CHECK(norm_err(ggf, gg) < gtol);
  CHECK(norm_err(gbf, gb) < gtol);
  if (f.residual) CHECK(norm_err(grf, gr) < gtol);
}

}  // namespace

TEST_CASE("f32 batch norm + act kernels match the double reference", "[ops][norm_act]") {
  // Odd sizes; N*C*H*W above 2^15 (threaded); H*W above 4096 (NCHW blocks) and N*H*W
  // rows that are not a multiple of 64 (channels-last blocks); means far from 0.
  const std::vector<Case> cases = {{2, 3, 5, 7},        {4, 16, 9, 9, 3.0}, {3, 5, 70, 70},      {64, 32, 4, 4, 100.0},
                                   {33, 17, 3, 5, -20}, {1, 1, 1, 2},       {2, 40, 31, 33, 0.5}};
  uint64_t seed = 11;
  for (const Case& s : cases)
    for (bool cl : {false, true})
      for (bool training : {true, false})
        for (int mode = 0; mode < 3; ++mode) {
          Flags f{cl, training, mode != 1, mode == 2, mode != 0};
          check_case(s, f, seed += 10);
        }
}

TEST_CASE("f32 batch norm: the gradient wrt x sums to zero per channel in training", "[ops][norm_act]") {
  // Without relu, sum_i gx_i = gi * (sum g - M mg - mgx sum xhat) = 0: the kernel's
  // per-channel coefficients must cancel (a check independent of the reference).
  kernels::BatchNormActParams p;
  p.N = 8;
  p.C = 6;
  p.HW = 77;
  for (bool cl : {false, true}) {
    p.channels_last = cl;
    const size_t n = size_t(p.N * p.C * p.HW);
    auto x = to_f32(random_vec(n, 5, 50.0, 2.0)), gy = to_f32(random_vec(n, 6, 0.3, 1.0));
    std::vector<float> y(n), sm(6), si(6), gx(n);
    kernels::batchnorm2d_act_fwd_cpu<float>(p, y.data(), sm.data(), si.data(), x.data(), nullptr, nullptr, nullptr,
                                            nullptr, nullptr);
    kernels::batchnorm2d_act_bwd_cpu<float>(p, gx.data(), nullptr, nullptr, nullptr, gy.data(), nullptr, x.data(),
                                            nullptr, sm.data(), si.data());
    for (int64_t c = 0; c < p.C; ++c) {
      double s = 0, scale = 0;
      for (int64_t m = 0; m < p.N * p.HW; ++m) {
        const int64_t k = cl ? m * p.C + c : (m / p.HW * p.C + c) * p.HW + m % p.HW;
        s += gx[size_t(k)];
        scale = std::max(scale, std::abs(double(gx[size_t(k)])));
      }
      INFO("channel " << c << (cl ? " channels-last" : " NCHW"));
      CHECK(std::abs(s) < 1e-4 * scale * double(p.N * p.HW));
    }
  }
}
