#include "metrics/calibration.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"

namespace engine::metrics {
namespace {

void check_labels(const int64_t* labels, int64_t n, int64_t c, const char* what) {
  ENGINE_CHECK(n >= 0 && c >= 1, what << ": need n >= 0 and c >= 1, got n " << n << ", c " << c);
  for (int64_t i = 0; i < n; ++i)
    ENGINE_CHECK(labels[i] >= 0 && labels[i] < c,
                 what << ": label " << labels[i] << " of sample " << i << " outside [0, " << c << ")");
}

}  // namespace

std::vector<float> softmax_rows(const float* logits, int64_t n, int64_t c, double t) {
  ENGINE_CHECK(t > 0 && std::isfinite(t), "softmax_rows: temperature must be positive and finite, got " << t);
  std::vector<float> out(static_cast<size_t>(n * c));
  std::vector<double> e(static_cast<size_t>(c));
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits + i * c;
    double m = *std::max_element(z, z + c), s = 0;
    for (int64_t k = 0; k < c; ++k) s += e[size_t(k)] = std::exp((double(z[k]) - m) / t);
    for (int64_t k = 0; k < c; ++k) out[size_t(i * c + k)] = float(e[size_t(k)] / s);
  }
  return out;
}

double brier_score(const float* probs, const int64_t* labels, int64_t n, int64_t c) {
  check_labels(labels, n, c, "brier_score");
  if (n == 0) return 0.0;
  double total = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k) {
      double d = double(probs[i * c + k]) - (k == labels[i] ? 1.0 : 0.0);
      total += d * d;
    }
  return total / double(n);
}

double nll_at_temperature(const float* logits, const int64_t* labels, int64_t n, int64_t c, double t) {
  ENGINE_CHECK(t > 0 && std::isfinite(t), "nll_at_temperature: temperature must be positive and finite, got " << t);
  if (n == 0) return 0.0;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits + i * c;
    double m = *std::max_element(z, z + c) / t, s = 0;
    for (int64_t k = 0; k < c; ++k) s += std::exp(double(z[k]) / t - m);
    total += m + std::log(s) - double(z[labels[i]]) / t;
  }
  return total / double(n);
}

ClassificationStats stats_at_temperature(const float* logits, const int64_t* labels, int64_t n, int64_t c, double t,
                                         int bins) {
  std::vector<float> p = softmax_rows(logits, n, c, t);
  ClassificationStats s(bins);
  s.add(p.data(), labels, n, c);
  return s;
}

TemperatureFit fit_temperature(const float* logits, const int64_t* labels, int64_t n, int64_t c, double t_min,
                               double t_max, double tolerance) {
  check_labels(labels, n, c, "fit_temperature");
  ENGINE_CHECK(n > 0, "fit_temperature: no samples to fit on");
  ENGINE_CHECK(
      t_min > 0 && t_max > t_min && tolerance > 0,
      "fit_temperature: need 0 < t_min < t_max and tolerance > 0, got " << t_min << ", " << t_max << ", " << tolerance);
  auto f = [&](double u) { return nll_at_temperature(logits, labels, n, c, std::exp(u)); };
  const double inv_phi = (std::sqrt(5.0) - 1.0) / 2.0;
  double a = std::log(t_min), b = std::log(t_max);
  double x1 = b - inv_phi * (b - a), x2 = a + inv_phi * (b - a);
  double f1 = f(x1), f2 = f(x2);
  TemperatureFit fit;
  while (b - a > tolerance && fit.iterations < 200) {
    if (f1 <= f2) {
      b = x2, x2 = x1, f2 = f1;
      x1 = b - inv_phi * (b - a);
      f1 = f(x1);
    } else {
      a = x1, x1 = x2, f1 = f2;
      x2 = a + inv_phi * (b - a);
      f2 = f(x2);
    }
    ++fit.iterations;
  }
  fit.temperature = std::exp(0.5 * (a + b));
  fit.nll_before = nll_at_temperature(logits, labels, n, c, 1.0);
  fit.nll_after = nll_at_temperature(logits, labels, n, c, fit.temperature);
  // T = 1 lies inside the usual bracket; never report a fit worse than leaving the
  // logits alone (possible only at the bracket's edge).
  if (fit.nll_after > fit.nll_before && t_min <= 1.0 && 1.0 <= t_max) {
    fit.temperature = 1.0;
    fit.nll_after = fit.nll_before;
  }
  return fit;
}

}  // namespace engine::metrics
