#include "apps/common/run_plots.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "engine/core/check.h"

namespace fs = std::filesystem;

namespace engine::app {
namespace {

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream ss(line);
  for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
  if (!line.empty() && line.back() == ',') cells.push_back("");
  return cells;
}

double parse_number(const std::string& s) {
  if (s.empty()) return NAN;
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    return used == s.size() ? v : NAN;
  } catch (const std::exception&) {
    return NAN;
  }
}

}  // namespace

int CsvTable::column(const std::string& name) const {
  auto it = std::find(header.begin(), header.end(), name);
  return it == header.end() ? -1 : int(it - header.begin());
}

std::vector<double> CsvTable::numbers(const std::string& name) const {
  int c = column(name);
  std::vector<double> v;
  for (const auto& r : rows) v.push_back(c >= 0 && size_t(c) < r.size() ? parse_number(r[size_t(c)]) : NAN);
  return v;
}

CsvTable read_csv(const std::string& path) {
  std::ifstream f(path);
  ENGINE_CHECK(f.good(), "cannot read " << path);
  CsvTable t;
  std::string line;
  ENGINE_CHECK(std::getline(f, line) && !line.empty(), path << " has no header line");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  t.header = split_csv_line(line);
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) t.rows.push_back(split_csv_line(line));
  }
  return t;
}

plot::Figure training_curves(const CsvTable& m, const std::string& run_name) {
  using plot::Series;
  std::vector<double> epoch = m.numbers("epoch");
  auto series = [&](const std::string& col, const std::string& name, int color, bool dashed = false) {
    Series s{name, epoch, m.numbers(col), plot::series_color(color), dashed};
    return s;
  };
  auto any_finite = [](const Series& s) {
    return std::any_of(s.y.begin(), s.y.end(), [](double v) { return std::isfinite(v); });
  };
  auto keep = [&](std::vector<Series> all) {
    std::vector<Series> out;
    for (auto& s : all)
      if (any_finite(s)) out.push_back(std::move(s));
    return out;
  };
  std::string prefix = run_name.empty() ? "" : run_name + ": ";
  std::vector<plot::LinePanel> panels;
  plot::LinePanel loss{prefix + "loss", "epoch", "cross-entropy", {}, true};
  loss.series = keep({series("train_loss", "train", 0), series("test_loss", "test", 1), series("val_nll", "val NLL", 2, true)});
  loss.integer_x = true;
  panels.push_back(loss);
  plot::LinePanel acc{prefix + "accuracy", "epoch", "accuracy", {}, false};
  acc.series = keep({series("train_acc", "train", 0), series("test_acc", "test", 1), series("val_acc", "val", 2, true)});
  acc.integer_x = true;
  panels.push_back(acc);
  plot::LinePanel ece{prefix + "calibration", "epoch", "ECE (test)", {}, true};
  ece.series = keep({series("test_ece", "test", 1)});
  ece.integer_x = true;
  panels.push_back(ece);
  // Columns this function does not know (MoE statistics, ...) get a panel each.
  static const std::set<std::string> known = {"epoch",  "lr",     "train_loss", "train_acc", "test_loss", "test_acc",
                                              "test_nll", "test_ece", "img_per_s", "wall_s",  "val_acc",  "val_nll"};
  int extra = 0;
  for (const auto& col : m.header) {
    if (known.count(col) || extra >= 6) continue;
    Series s = series(col, "", 4 + extra);
    if (!any_finite(s)) continue;
    plot::LinePanel p{prefix + col, "epoch", col, {s}, false};
    p.integer_x = true;
    panels.push_back(p);
    ++extra;
  }
  plot::LinePanel lr{prefix + "learning rate", "epoch", "lr (last step)", keep({series("lr", "", 0)}), true};
  lr.integer_x = true;
  panels.push_back(lr);
  return plot::line_panels(panels, panels.size() <= 4 ? 2 : 3);
}

std::vector<std::string> plot_moe_files(const std::string& run_dir, const std::string& plots_dir) {
  std::vector<std::string> written;
  (void)run_dir;
  (void)plots_dir;
  return written;
}

}  // namespace engine::app
