#include "apps/common/run_plots.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "base/check.h"

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
  loss.series =
      keep({series("train_loss", "train", 0), series("test_loss", "test", 1), series("val_nll", "val NLL", 2, true)});
  loss.integer_x = true;
  panels.push_back(loss);
  plot::LinePanel acc{prefix + "accuracy", "epoch", "accuracy", {}, false};
  acc.series =
      keep({series("train_acc", "train", 0), series("test_acc", "test", 1), series("val_acc", "val", 2, true)});
  acc.integer_x = true;
  panels.push_back(acc);
  plot::LinePanel ece{prefix + "calibration", "epoch", "ECE (test)", {}, true};
  ece.series = keep({series("test_ece", "test", 1)});
  ece.integer_x = true;
  panels.push_back(ece);
  // MoE columns (apps/common/moe_tracker.h) in three panels: losses, load, gate.
  std::set<std::string> known = {"epoch",    "lr",       "train_loss", "train_acc", "test_loss", "test_acc",
                                 "test_nll", "test_ece", "img_per_s",  "wall_s",    "val_acc",   "val_nll"};
  struct Group {
    const char* title;
    const char* ylabel;
    std::vector<std::pair<const char*, const char*>> cols;  // column, legend name
  };
  const Group groups[] = {
      {"MoE aux losses",
       "loss",
       {{"moe_aux_loss", "aux (weighted)"}, {"moe_lb_loss", "load balance"}, {"moe_z_loss", "z"}}},
      {"MoE expert load",
       "fraction",
       {{"moe_max_expert_frac", "max expert share"},
        {"moe_utilisation", "utilisation"},
        {"moe_dropped_frac", "dropped"}}},
      {"MoE gate", "nats / probability", {{"moe_gate_entropy", "gate entropy"}, {"moe_top1_prob", "top-1 prob"}}}};
  for (const Group& g : groups) {
    std::vector<Series> all;
    int color = 0;
    for (const auto& [col, name] : g.cols) {
      known.insert(col);
      if (m.has(col)) all.push_back(series(col, name, color));
      ++color;
    }
    plot::LinePanel p{prefix + g.title, "epoch", g.ylabel, keep(all), true};
    p.integer_x = true;
    if (!p.series.empty()) panels.push_back(p);
  }
  // Other columns this function does not know get a panel each.
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

std::string short_layer_name(const std::string& layer) {
  std::string s = layer;
  if (s.size() > 4 && s.compare(s.size() - 4, 4, ".moe") == 0) s.resize(s.size() - 4);
  if (s.rfind("moe_", 0) == 0) s = s.substr(4);
  return s;
}

plot::Figure expert_class_heatmap(const std::vector<std::vector<double>>& counts,
                                  const std::vector<std::string>& class_names, const std::string& title) {
  ENGINE_CHECK(!counts.empty() && !counts[0].empty(), "expert_class_heatmap: the table is empty");
  size_t experts = counts.size(), classes = counts[0].size();
  plot::Heatmap h;
  h.title = title;
  h.xlabel = "class";
  h.ylabel = "expert";
  h.colorbar_label = "share of the class's tokens";
  h.values.assign(experts, std::vector<double>(classes, 0.0));
  for (size_t k = 0; k < classes; ++k) {
    double total = 0;
    for (size_t e = 0; e < experts; ++e) total += counts[e].at(k);
    for (size_t e = 0; e < experts; ++e) h.values[e][k] = total > 0 ? counts[e][k] / total : NAN;
  }
  for (size_t e = 0; e < experts; ++e) h.row_labels.push_back("e" + std::to_string(e));
  for (size_t k = 0; k < classes; ++k)
    h.col_labels.push_back(k < class_names.size() ? class_names[k] : std::to_string(k));
  return plot::heatmap(h);
}

std::vector<std::string> plot_moe_files(const std::string& run_dir, const std::string& plots_dir,
                                        const std::vector<std::string>& class_names) {
  std::vector<std::string> written;
  if (fs::exists(run_dir + "/moe_layers.csv")) {
    CsvTable t = read_csv(run_dir + "/moe_layers.csv");
    std::vector<double> epochs = t.numbers("epoch");
    int layer_col = t.column("layer"), frac_col = t.column("expert_fracs");
    double last = -1;
    for (double e : epochs)
      if (std::isfinite(e)) last = std::max(last, e);
    std::vector<plot::BarPanel> panels;
    for (size_t i = 0; i < t.rows.size() && layer_col >= 0 && frac_col >= 0; ++i) {
      if (epochs[i] != last || size_t(frac_col) >= t.rows[i].size()) continue;
      plot::BarPanel p;
      std::stringstream ss(t.rows[i][size_t(frac_col)]);
      for (double v; ss >> v;) p.values.push_back(v);
      if (p.values.empty()) continue;
      for (size_t e = 0; e < p.values.size(); ++e) p.categories.push_back("e" + std::to_string(e));
      p.title = short_layer_name(t.rows[i][size_t(layer_col)]) + ": expert load, epoch " + std::to_string(int(last));
      p.xlabel = "expert";
      p.ylabel = "token fraction";
      p.reference = 1.0 / double(p.values.size());
      p.reference_label = "uniform";
      panels.push_back(p);
    }
    if (!panels.empty()) {
      std::string path = plots_dir + "/moe_expert_load.png";
      plot::bar_panels(panels, 2).save(path);
      written.push_back(path);
    }
  }
  // The expert x class counts of the last epoch that has a file.
  int last = -1;
  if (fs::is_directory(run_dir))
    for (const auto& entry : fs::directory_iterator(run_dir)) {
      std::string f = entry.path().filename().string();
      const std::string prefix = "moe_expert_class_epoch";
      if (f.rfind(prefix, 0) == 0 && f.size() > prefix.size() + 4 && f.compare(f.size() - 4, 4, ".csv") == 0) {
        double n = parse_number(f.substr(prefix.size(), f.size() - prefix.size() - 4));
        if (std::isfinite(n)) last = std::max(last, int(n));
      }
    }
  if (last >= 0) {
    CsvTable t = read_csv(run_dir + "/moe_expert_class_epoch" + std::to_string(last) + ".csv");
    std::vector<std::string> order;
    std::map<std::string, std::vector<std::vector<double>>> tables;
    for (const auto& r : t.rows) {
      if (r.size() < 3) continue;
      if (!tables.count(r[0])) order.push_back(r[0]);
      std::vector<double> row;
      for (size_t k = 2; k < r.size(); ++k) row.push_back(parse_number(r[k]));
      tables[r[0]].push_back(row);
    }
    for (const auto& layer : order) {
      std::string name = short_layer_name(layer);
      std::string path = plots_dir + "/moe_expert_class_" + name + ".png";
      expert_class_heatmap(tables[layer], class_names,
                           name + ": experts per class, training epoch " + std::to_string(last))
          .save(path);
      written.push_back(path);
    }
  }
  return written;
}

}  // namespace engine::app
