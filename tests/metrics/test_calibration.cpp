// Brier score against hand values; temperature scaling recovers a planted temperature
// and lowers the NLL; softmax at a temperature and the NLL agree with direct sums.
#include <cmath>

#include "base/rng.h"
#include "metrics/calibration.h"
#include "test_util.h"

using namespace engine;

namespace {

// Logits z ~ 3 * N(0, 1) per class; labels drawn from softmax(z / planted_t), so the
// logits are calibrated at exactly that temperature.
void planted(double planted_t, int64_t n, int64_t c, uint64_t seed, std::vector<float>* logits,
             std::vector<int64_t>* labels) {
  logits->resize(size_t(n * c));
  labels->resize(size_t(n));
  for (int64_t i = 0; i < n * c; ++i) (*logits)[size_t(i)] = 3.0f * philox_normal(seed, uint64_t(i));
  std::vector<float> p = metrics::softmax_rows(logits->data(), n, c, planted_t);
  for (int64_t i = 0; i < n; ++i) {
    double u = philox_uniform(seed + 1, uint64_t(i)), cdf = 0;
    int64_t k = 0;
    for (; k < c - 1; ++k) {
      cdf += p[size_t(i * c + k)];
      if (u < cdf) break;
    }
    (*labels)[size_t(i)] = k;
  }
}

}  // namespace

TEST_CASE("Brier score equals hand-computed values", "[metrics]") {
  // Sample 1: p = (0.7, 0.2, 0.1), label 0: 0.09 + 0.04 + 0.01 = 0.14.
  // Sample 2: p = (0.5, 0.25, 0.25), label 2: 0.25 + 0.0625 + 0.5625 = 0.875.
  std::vector<float> p{0.7f, 0.2f, 0.1f, 0.5f, 0.25f, 0.25f};
  std::vector<int64_t> y{0, 2};
  CHECK(metrics::brier_score(p.data(), y.data(), 1, 3) == Approx(0.14).epsilon(1e-6));
  CHECK(metrics::brier_score(p.data(), y.data(), 2, 3) == Approx((0.14 + 0.875) / 2).epsilon(1e-6));
  // Certain and right: 0; certain and wrong: 2.
  std::vector<float> q{1, 0, 0, 1};
  std::vector<int64_t> right{0, 1}, wrong{1, 0};
  CHECK(metrics::brier_score(q.data(), right.data(), 2, 2) == 0.0);
  CHECK(metrics::brier_score(q.data(), wrong.data(), 2, 2) == Approx(2.0));
  std::vector<int64_t> bad{3};
  CHECK_THROWS_WITH(metrics::brier_score(p.data(), bad.data(), 1, 3), Catch::Contains("label 3"));
}

TEST_CASE("softmax at a temperature and the NLL match direct sums", "[metrics]") {
  std::vector<float> z{2.0f, -1.0f, 0.5f, 0.0f, 0.0f, 3.0f};
  std::vector<int64_t> y{0, 1};
  for (double t : {0.5, 1.0, 2.5}) {
    std::vector<float> p = metrics::softmax_rows(z.data(), 2, 3, t);
    double nll = 0;
    for (int i = 0; i < 2; ++i) {
      double s = 0;
      for (int k = 0; k < 3; ++k) s += std::exp(z[size_t(i * 3 + k)] / t);
      for (int k = 0; k < 3; ++k) CHECK(p[size_t(i * 3 + k)] == Approx(std::exp(z[size_t(i * 3 + k)] / t) / s));
      nll += -std::log(std::exp(z[size_t(i * 3 + y[size_t(i)])] / t) / s);
    }
    CHECK(metrics::nll_at_temperature(z.data(), y.data(), 2, 3, t) == Approx(nll / 2).epsilon(1e-9));
    metrics::ClassificationStats s = metrics::stats_at_temperature(z.data(), y.data(), 2, 3, t, 15);
    CHECK(s.nll() == Approx(nll / 2).epsilon(1e-5));
    CHECK(s.accuracy() == Approx(0.5));  // sample 0 right, sample 1 predicted 2
  }
  CHECK_THROWS_WITH(metrics::softmax_rows(z.data(), 2, 3, 0.0), Catch::Contains("temperature"));
}

TEST_CASE("temperature scaling recovers a planted temperature and lowers the NLL", "[metrics]") {
  for (double t0 : {2.5, 0.6}) {
    std::vector<float> z;
    std::vector<int64_t> y;
    planted(t0, 20000, 10, 42, &z, &y);
    metrics::TemperatureFit fit = metrics::fit_temperature(z.data(), y.data(), 20000, 10);
    INFO("planted " << t0 << ", fitted " << fit.temperature);
    CHECK(fit.temperature == Approx(t0).epsilon(0.05));
    CHECK(fit.nll_after < fit.nll_before - 0.01);
    CHECK(fit.nll_after == Approx(metrics::nll_at_temperature(z.data(), y.data(), 20000, 10, fit.temperature)));
    // The fitted T is a minimum: a step of 2% either way does not do better.
    CHECK(fit.nll_after <= metrics::nll_at_temperature(z.data(), y.data(), 20000, 10, fit.temperature * 1.02));
    CHECK(fit.nll_after <= metrics::nll_at_temperature(z.data(), y.data(), 20000, 10, fit.temperature / 1.02));
    // Scaling keeps every prediction, and lowers the ECE for this miscalibrated model.
    metrics::ClassificationStats before = metrics::stats_at_temperature(z.data(), y.data(), 20000, 10, 1.0);
    metrics::ClassificationStats after = metrics::stats_at_temperature(z.data(), y.data(), 20000, 10, fit.temperature);
    CHECK(after.accuracy() == before.accuracy());
    CHECK(after.ece() < before.ece());
    CHECK(after.ece() < 0.02);
  }
}

TEST_CASE("temperature scaling leaves calibrated logits near T = 1 and checks its inputs", "[metrics]") {
  std::vector<float> z;
  std::vector<int64_t> y;
  planted(1.0, 20000, 5, 7, &z, &y);
  metrics::TemperatureFit fit = metrics::fit_temperature(z.data(), y.data(), 20000, 5);
  CHECK(fit.temperature == Approx(1.0).epsilon(0.05));
  CHECK(fit.nll_after <= fit.nll_before);
  CHECK(fit.iterations > 10);
  CHECK_THROWS_WITH(metrics::fit_temperature(z.data(), y.data(), 0, 5), Catch::Contains("no samples"));
  CHECK_THROWS(metrics::fit_temperature(z.data(), y.data(), 10, 5, 2.0, 1.0));
}
