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

// Odd sizes; N*C*H*W above 2^15 (threaded); H*W above 4096 (NCHW blocks) and N*H*W
// rows that are not a multiple of 64 (channels-last blocks); means far from 0.
const std::vector<Case> kCases = {{2, 3, 5, 7},        {4, 16, 9, 9, 3.0}, {3, 5, 70, 70},      {64, 32, 4, 4, 100.0},
                                  {33, 17, 3, 5, -20}, {1, 1, 1, 2},       {2, 40, 31, 33, 0.5}};

// check(case, flags, seed) for every case in both layouts, training and eval, and the
// three modes: no affine (relu), affine without relu, affine + relu + residual.
template <class Check>
void for_each_case(const std::vector<Case>& cases, uint64_t seed, Check check) {
  for (const Case& s : cases)
    for (bool cl : {false, true})
      for (bool training : {true, false})
        for (int mode = 0; mode < 3; ++mode) check(s, Flags{cl, training, mode != 1, mode == 2, mode != 0}, seed += 10);
}

kernels::BatchNormActParams params_of(const Case& s, const Flags& f) {
  kernels::BatchNormActParams p;
  p.N = s.N;
  p.C = s.C;
  p.HW = s.H * s.W;
  p.training = f.training;
  p.relu = f.relu;
  p.channels_last = f.cl;
  return p;
}

void check_case(const Case& s, const Flags& f, uint64_t seed) {
  const kernels::BatchNormActParams p = params_of(s, f);
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
  for_each_case(kCases, 11, check_case);
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

namespace {

std::vector<uint16_t> to_bf16_bits(const Vec& v) {
  std::vector<uint16_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) b[i] = float_to_bf16(float(v[i])).bits;
  return b;
}
std::vector<float> widened(const std::vector<uint16_t>& b) {
  std::vector<float> f(b.size());
  for (size_t i = 0; i < b.size(); ++i) f[i] = bf16_to_float(bf16_t{b[i]});
  return f;
}
// How many bf16 steps apart a and b are at most (both finite).
int max_ulps(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b) {
  auto ordered = [](uint16_t v) { return (v & 0x8000) ? -int(v & 0x7fff) : int(v); };
  int m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(ordered(a[i]) - ordered(b[i])));
  return m;
}
double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  return norm_err(a, Vec(b.begin(), b.end()));
}

// The bf16-activation kernels against the f32 kernels on the widened values, rounded to
// bf16: channels-last sums run over the rows in the same order, so every output is
// bit-identical; NCHW planes add per-block partial sums, so statistics may differ in the
// last f32 bits and a rounded output by one bf16 step.
void check_bf16_case(const Case& s, const Flags& f, uint64_t seed) {
  const kernels::BatchNormActParams p = params_of(s, f);
  const size_t n = size_t(p.N * p.C * p.HW), C = size_t(p.C);
  const auto x = to_bf16_bits(random_vec(n, seed, s.mean, 1.5)), res = to_bf16_bits(random_vec(n, seed + 1, 0.0, 1.0)),
             gy = to_bf16_bits(random_vec(n, seed + 4, 0.0, 1.0));
  const auto gamma = to_f32(random_vec(C, seed + 2, 1.0, 0.3)), beta = to_f32(random_vec(C, seed + 3, 0.0, 0.5));
  const auto rm0 = to_f32(random_vec(C, seed + 5, s.mean, 0.1));
  std::vector<float> rv0(C);
  for (size_t c = 0; c < C; ++c) rv0[c] = 2.0f + 0.1f * float(c % 7);
  const float* g = f.affine ? gamma.data() : nullptr;
  const float* b = f.affine ? beta.data() : nullptr;
  // bf16 kernels.
  std::vector<uint16_t> y(n), gx(n), gr(n);
  std::vector<float> sm(C), si(C), rm = rm0, rv = rv0, gg(C), gb(C);
  kernels::batchnorm2d_act_fwd_bf16(p, y.data(), sm.data(), si.data(), x.data(), f.residual ? res.data() : nullptr, g,
                                    b, rm.data(), rv.data());
  kernels::batchnorm2d_act_bwd_bf16(p, gx.data(), gg.data(), gb.data(), f.residual ? gr.data() : nullptr, gy.data(),
                                    y.data(), x.data(), g, sm.data(), si.data());
  // f32 kernels on the widened values (the backward reads the bf16 forward's y, as the
  // op does), rounded.
  const auto xf = widened(x), resf = widened(res), gyf = widened(gy), yw = widened(y);
  std::vector<float> yf(n), gxf(n), grf(n), smf(C), sif(C), rmf = rm0, rvf = rv0, ggf(C), gbf(C);
  kernels::batchnorm2d_act_fwd_f32(p, yf.data(), smf.data(), sif.data(), xf.data(), f.residual ? resf.data() : nullptr,
                                   g, b, rmf.data(), rvf.data());
  kernels::batchnorm2d_act_bwd_f32(p, gxf.data(), ggf.data(), gbf.data(), f.residual ? grf.data() : nullptr, gyf.data(),
                                   yw.data(), xf.data(), g, smf.data(), sif.data());
  auto rounded = [](const std::vector<float>& v) { return to_bf16_bits(Vec(v.begin(), v.end())); };
  INFO("bf16 " << describe(s, f));
  if (f.cl) {
    CHECK(y == rounded(yf));
    CHECK(sm == smf);
    CHECK(si == sif);
    CHECK(rm == rmf);
    CHECK(rv == rvf);
    CHECK(gx == rounded(gxf));
    CHECK(gg == ggf);
    CHECK(gb == gbf);
    if (f.residual) CHECK(gr == rounded(grf));
    return;
  }
  CHECK(max_ulps(y, rounded(yf)) <= 1);
  CHECK(rel_err(sm, smf) < 1e-6);
  CHECK(rel_err(si, sif) < 1e-6);
  CHECK(rel_err(rm, rmf) < 1e-6);
  CHECK(rel_err(rv, rvf) < 1e-6);
  CHECK(rel_err(widened(gx), widened(rounded(gxf))) < 1e-2);
  CHECK(rel_err(gg, ggf) < 1e-5);
  CHECK(rel_err(gb, gbf) < 1e-5);
  if (f.residual) CHECK(gr == rounded(grf));  // the masked gradient is gy itself or 0
}

}  // namespace

TEST_CASE("bf16 batch norm + act kernels equal the f32 kernels on the widened values", "[ops][norm_act]") {
  // The same shapes: H*W above the 4096-element staging blocks (NCHW), rows of C channels
  // spanning several blocks (channels-last), threaded sizes, far-off means.
  std::vector<Case> cases = kCases;
  cases.push_back({4, 5000, 1, 3});  // rows of more channels than a staging block holds
  for_each_case(cases, 911, check_bf16_case);
}
