#pragma once
// Classification metrics from predicted probabilities: accuracy, negative
// log-likelihood, expected calibration error with equal-width confidence bins.
#include <cstdint>
#include <vector>

namespace engine::metrics {

struct ReliabilityBins {
  std::vector<int64_t> count;
  std::vector<double> confidence_sum, correct_sum;  // per bin
};

// Accumulates over batches; probabilities are rows of a [N, C] row-major array.
class ClassificationStats {
 public:
  explicit ClassificationStats(int num_bins = 15);
  void add(const float* probs, const int64_t* labels, int64_t n, int64_t classes);
  int64_t count() const { return count_; }
  double accuracy() const;
  double nll() const;  // mean -log p(label), p clamped at 1e-12
  double ece() const;  // sum_b |acc_b - conf_b| * n_b / N
  double mce() const;  // max_b |acc_b - conf_b|
  const ReliabilityBins& bins() const { return bins_; }

 private:
  int num_bins_;
  int64_t count_ = 0, correct_ = 0;
  double nll_sum_ = 0;
  ReliabilityBins bins_;
};

}  // namespace engine::metrics
