#include "apps/common/metrics_csv.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "base/check.h"

namespace engine::app {
namespace {

// val_* are empty when no validation split is held out (data.val_size = 0).
const char* kMetricsHeader =
    "epoch,lr,train_loss,train_acc,test_loss,test_acc,test_nll,test_ece,img_per_s,wall_s,val_acc,val_nll";
constexpr size_t kMetricsColumns = 12;

}  // namespace

const std::vector<std::string>& amp_metric_columns() {
  static const std::vector<std::string> columns = {"skipped_steps", "loss_scale"};
  return columns;
}

std::string csv_number(double v) {
  if (std::isnan(v)) return "";
  std::ostringstream o;
  o << std::setprecision(6) << v;
  return o.str();
}

std::string metrics_csv(const std::vector<MetricsRow>& rows, const std::vector<std::string>& moe_columns, bool amp) {
  const std::vector<std::string>& amp_columns = amp_metric_columns();
  std::ostringstream o;
  o << kMetricsHeader;
  for (const std::string& c : moe_columns) o << "," << c;
  if (amp)
    for (const std::string& c : amp_columns) o << "," << c;
  o << "\n" << std::setprecision(6);
  for (const auto& r : rows) {
    o << r.epoch << "," << r.lr << "," << r.train_loss << "," << r.train_acc << "," << r.test_loss << "," << r.test_acc
      << "," << r.test_nll << "," << r.test_ece << "," << r.img_per_s << "," << r.wall_s << "," << csv_number(r.val_acc)
      << "," << csv_number(r.val_nll);
    for (size_t i = 0; i < moe_columns.size(); ++i) o << "," << csv_number(i < r.moe.size() ? r.moe[i] : NAN);
    if (amp)
      for (size_t i = 0; i < amp_columns.size(); ++i) o << "," << csv_number(i < r.amp.size() ? r.amp[i] : NAN);
    o << "\n";
  }
  return o.str();
}

std::vector<MetricsRow> read_metrics(const std::string& path, int64_t up_to_epoch) {
  const std::vector<std::string>& amp_columns = amp_metric_columns();
  std::vector<MetricsRow> rows;
  std::ifstream f(path);
  ENGINE_CHECK(f.good(), "cannot open '" << path << "'");
  std::string line;
  std::getline(f, line);
  ENGINE_CHECK(line.rfind("epoch,", 0) == 0,
               "'" << path << "' does not start with the metrics.csv header (epoch,lr,...); it is not a run's metrics");
  // Columns past the fixed ones are MoE columns, then the loss-scaling ones.
  std::vector<bool> is_amp;
  {
    std::stringstream s(line);
    for (std::string cell; std::getline(s, cell, ',');)
      is_amp.push_back(std::find(amp_columns.begin(), amp_columns.end(), cell) != amp_columns.end());
  }
  for (int line_no = 2; std::getline(f, line); ++line_no) {
    std::vector<double> v;
    std::stringstream s(line);
    for (std::string cell; std::getline(s, cell, ',');) {
      char* end = nullptr;
      double x = cell.empty() ? NAN : std::strtod(cell.c_str(), &end);
      ENGINE_CHECK(cell.empty() || *end == '\0', "'" << path << "' line " << line_no << ": cell '" << cell
                                                     << "' is not a number (the file is damaged or was edited)");
      v.push_back(x);
    }
    ENGINE_CHECK(!v.empty() && v[0] >= 0 && v[0] <= 1e9 && v[0] == std::floor(v[0]),
                 "'" << path << "' line " << line_no << ": the epoch cell is not a whole number");
    if (v.size() < kMetricsColumns) v.resize(kMetricsColumns, NAN);
    MetricsRow r{int64_t(v[0]), v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], {}, {}};
    for (size_t i = kMetricsColumns; i < v.size(); ++i)
      (i < is_amp.size() && is_amp[i] ? r.amp : r.moe).push_back(v[i]);
    if (r.epoch <= up_to_epoch) rows.push_back(r);
  }
  return rows;
}

}  // namespace engine::app
