#pragma once
// Calibration from logits: softmax at a temperature, the Brier score, and
// temperature scaling (Guo et al. 2017): one scalar T > 0 fitted on held-out data by
// minimising the NLL of softmax(logits / T), which leaves every prediction unchanged
// and only rescales the confidences.
#include <cstdint>
#include <vector>

#include "metrics/classification.h"

namespace engine::metrics {

// Row-wise softmax(logits / T) of a row-major [n, c] array (computed in double).
std::vector<float> softmax_rows(const float* logits, int64_t n, int64_t c, double temperature = 1.0);

// Multi-class Brier score: mean over samples of sum_k (p_k - [k == label])^2, in [0, 2].
double brier_score(const float* probs, const int64_t* labels, int64_t n, int64_t c);

// Mean NLL of softmax(logits / T), by log-sum-exp (no probability clamping).
double nll_at_temperature(const float* logits, const int64_t* labels, int64_t n, int64_t c, double temperature);

// Accuracy, NLL, ECE, MCE and reliability bins of softmax(logits / T).
ClassificationStats stats_at_temperature(const float* logits, const int64_t* labels, int64_t n, int64_t c,
                                         double temperature, int bins = 15);

struct TemperatureFit {
  double temperature = 1.0;
  double nll_before = 0, nll_after = 0;  // on the data it was fitted on
  int iterations = 0;
};

// The T in [t_min, t_max] minimising nll_at_temperature. The NLL is convex in 1/T, so
// it is unimodal in log T and a golden-section search over log T finds the minimum;
// the search stops when the bracket is narrower than `tolerance` in log T.
TemperatureFit fit_temperature(const float* logits, const int64_t* labels, int64_t n, int64_t c, double t_min = 0.05,
                               double t_max = 20.0, double tolerance = 1e-6);

}  // namespace engine::metrics
