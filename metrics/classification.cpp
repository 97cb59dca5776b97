#include "metrics/classification.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"

namespace engine::metrics {

ClassificationStats::ClassificationStats(int num_bins) : num_bins_(num_bins) {
  ENGINE_CHECK(num_bins >= 1, "calibration: number of bins must be >= 1, got " << num_bins);
  bins_.count.assign(size_t(num_bins), 0);
  bins_.confidence_sum.assign(size_t(num_bins), 0.0);
  bins_.correct_sum.assign(size_t(num_bins), 0.0);
}

void ClassificationStats::add(const float* probs, const int64_t* labels, int64_t n, int64_t classes) {
  for (int64_t i = 0; i < n; ++i) {
    const float* p = probs + i * classes;
    int64_t label = labels[i];
    ENGINE_CHECK(label >= 0 && label < classes, "metrics: label " << label << " outside [0, " << classes << ")");
    int64_t pred = int64_t(std::max_element(p, p + classes) - p);
    double conf = double(p[pred]);
    bool ok = pred == label;
    correct_ += ok;
    nll_sum_ += -std::log(std::max(1e-12, double(p[label])));
    // Bin b holds confidences in (b/B, (b+1)/B]; confidence 0 goes to bin 0.
    int b = std::min(num_bins_ - 1, std::max(0, int(std::ceil(conf * num_bins_)) - 1));
    bins_.count[size_t(b)] += 1;
    bins_.confidence_sum[size_t(b)] += conf;
    bins_.correct_sum[size_t(b)] += ok ? 1.0 : 0.0;
  }
  count_ += n;
}

double ClassificationStats::accuracy() const { return count_ ? double(correct_) / double(count_) : 0.0; }
double ClassificationStats::nll() const { return count_ ? nll_sum_ / double(count_) : 0.0; }

double ClassificationStats::ece() const {
  if (!count_) return 0.0;
  double e = 0;
  for (size_t b = 0; b < bins_.count.size(); ++b)
    if (bins_.count[b]) e += std::abs(bins_.correct_sum[b] - bins_.confidence_sum[b]) / double(count_);
  return e;
}

double ClassificationStats::mce() const {
  double m = 0;
  for (size_t b = 0; b < bins_.count.size(); ++b)
    if (bins_.count[b])
      m = std::max(m, std::abs(bins_.correct_sum[b] - bins_.confidence_sum[b]) / double(bins_.count[b]));
  return m;
}

}  // namespace engine::metrics
