#pragma once
// A run's metrics.csv: one row per epoch, the fixed columns, then the MoE columns
// (MoeTracker::metric_columns) when the model has MoE layers, then the loss-scaling
// columns with training.precision = "f16".
#include <cstdint>
#include <string>
#include <vector>

namespace engine::app {

struct MetricsRow {
  int64_t epoch;
  double lr, train_loss, train_acc, test_loss, test_acc, test_nll, test_ece, img_per_s, wall_s, val_acc, val_nll;
  // Mixture-of-experts columns, present when moe.placement is not empty (MoeTracker).
  std::vector<double> moe;
  // Loss-scaling columns (amp_metric_columns), present with training.precision = "f16".
  std::vector<double> amp;
};

// Cumulative skipped steps (inf/NaN gradients) and the loss scale at the end of the epoch.
const std::vector<std::string>& amp_metric_columns();

// The file's text: the fixed columns, `moe_columns` (empty without MoE layers;
// MoeTracker::columns()), and the loss-scaling columns with `amp`.
std::string metrics_csv(const std::vector<MetricsRow>& rows, const std::vector<std::string>& moe_columns, bool amp);
// The rows of an existing file up to and including `up_to_epoch` (what a resumed run
// keeps); empty cells read as NaN.
std::vector<MetricsRow> read_metrics(const std::string& path, int64_t up_to_epoch);
// A cell: 6 significant digits, empty for NaN.
std::string csv_number(double v);

}  // namespace engine::app
