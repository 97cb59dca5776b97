// report_app <run_dir> [<run_dir> ...] [--out RESULTS.md] [--note TEXT]
// report_app --list <folder>
// Writes a results page comparing runs: the commands that reproduce each row, one
// table (model, dataset, params, active params, FLOPs, accuracy, NLL, ECE, ECE after
// temperature scaling, img/s, epochs, wall time) with dense and MoE rows of a dataset
// next to each other, a figure of test accuracy and ECE over epochs, and links to
// every run's plots. It reads config.json, metrics.csv and eval.json (eval_app).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "apps/common/cli.h"
#include "apps/common/run_index.h"
#include "apps/common/run_plots.h"
#include "engine/io/atomic_file.h"
#include "engine/io/config.h"
#include "metrics/model_stats.h"
#include "metrics/plot/charts.h"

namespace fs = std::filesystem;
using namespace engine;

namespace {

const char* kUsage =
    "usage: report_app <run_dir> [<run_dir> ...] [--out RESULTS.md] [--note TEXT]\n"
    "       (--note: a paragraph under the title, e.g. the machine the runs were measured on)\n"
    "       report_app --list <folder>   every run under the folder: name, dataset, status (running, finished,\n"
    "                                    failed, interrupted at epoch N), epochs, best test accuracy, wall time\n";

struct Run {
  std::string dir, name, dataset, kind, model;
  io::Json config, eval;  // eval is null when eval_app has not been run
  app::CsvTable metrics;
};

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "-";
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

std::string grouped(int64_t v) {  // 11173962 -> 11,173,962
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0 && s[i - 1] != '-') out += ',';
    out += s[i];
  }
  return out;
}

std::string duration(double s) {
  if (!std::isfinite(s)) return "-";
  int64_t t = int64_t(std::llround(s));
  std::ostringstream o;
  if (t >= 3600)
    o << t / 3600 << "h " << (t % 3600) / 60 << "m";
  else if (t >= 60)
    o << t / 60 << "m " << t % 60 << "s";
  else
    o << t << "s";
  return o.str();
}

double json_number(const io::Json& j, std::initializer_list<const char*> path) {
  const io::Json* p = &j;
  for (const char* k : path) {
    if (!p->is_object() || !p->contains(k)) return NAN;
    p = &(*p)[k];
  }
  return p->is_number() ? p->get<double>() : NAN;
}

std::string json_string(const io::Json& j, std::initializer_list<const char*> path, const std::string& fallback) {
  const io::Json* p = &j;
  for (const char* k : path) {
    if (!p->is_object() || !p->contains(k)) return fallback;
    p = &(*p)[k];
  }
  return p->is_string() ? p->get<std::string>() : fallback;
}

double last_finite(const std::vector<double>& v) {
  for (size_t i = v.size(); i-- > 0;)
    if (std::isfinite(v[i])) return v[i];
  return NAN;
}

Run load_run(const std::string& dir) {
  Run r;
  r.dir = fs::path(dir).lexically_normal().string();
  if (!r.dir.empty() && r.dir.back() == '/') r.dir.pop_back();
  ENGINE_CHECK(fs::is_directory(r.dir), "report_app: " << dir << " is not a run directory");
  r.config = io::read_json_file(r.dir + "/config.json");
  r.metrics = app::read_csv(r.dir + "/metrics.csv");
  ENGINE_CHECK(!r.metrics.rows.empty(), "report_app: " << r.dir << "/metrics.csv has no epochs yet");
  if (fs::exists(r.dir + "/eval.json")) r.eval = io::read_json_file(r.dir + "/eval.json");
  const io::Json& c = r.config;
  r.dataset = json_string(c, {"data", "dataset"}, "?");
  std::string arch = json_string(c, {"model", "arch"}, "?");
  r.name = json_string(c, {"name"}, "");
  if (r.name.empty()) r.name = fs::path(r.dir).filename().string();
  std::ostringstream m;
  double width = json_number(c, {"model", "width_mult"});
  m << arch << " x" << (std::isfinite(width) ? width : 1.0);
  bool moe = c.contains("moe") && c["moe"].contains("placement") && c["moe"]["placement"].is_array() &&
             !c["moe"]["placement"].empty();
  if (moe) {
    const io::Json& e = c["moe"];
    std::string where;
    for (const auto& p : e["placement"]) where += (where.empty() ? "" : "+") + p.get<std::string>();
    m << ", MoE " << e.value("num_experts", 0) << " experts top-" << e.value("top_k", 0) << " in " << where;
  }
  const bool multimodal = arch == "multimodal_moe";
  if (multimodal) {
    const io::Json& e = c.contains("moe") ? c["moe"] : io::Json::object();
    const io::Json& mm = c.contains("multimodal") ? c["multimodal"] : io::Json::object();
    m << ", " << mm.value("blocks", 1) << " fusion block(s), MoE " << e.value("num_experts", 0) << " experts top-"
      << e.value("top_k", 0) << ", " << mm.value("head", std::string("similarity")) << " head";
    if (c.contains("data") && c["data"].contains("holdout_classes") && !c["data"]["holdout_classes"].empty())
      m << ", held out: " << c["data"]["holdout_classes"].dump();
  }
  double params = json_number(r.eval, {"model", "params"}), active = json_number(r.eval, {"model", "active_params"});
  r.kind = multimodal ? "Multimodal MoE" : moe || (std::isfinite(active) && active < params) ? "MoE" : "Dense";
  r.model = m.str();
  return r;
}

std::string relative_to(const std::string& path, const std::string& base_dir) {
  return fs::relative(fs::absolute(path), fs::absolute(base_dir)).string();
}

std::string row(const Run& r, bool with_corruptions, bool* test_half_note) {
  const io::Json& e = r.eval;
  bool have = !e.is_null();
  std::vector<double> acc = r.metrics.numbers("test_acc"), nll = r.metrics.numbers("test_nll"),
                      ece = r.metrics.numbers("test_ece"), ips = r.metrics.numbers("img_per_s"),
                      wall = r.metrics.numbers("wall_s"), epochs = r.metrics.numbers("epoch");
  // eval_app's numbers are for the checkpoint it evaluated (the last one); without
  // eval.json the last epoch of metrics.csv stands in.
  double a = have ? json_number(e, {"test", "accuracy"}) : last_finite(acc);
  double n = have ? json_number(e, {"test", "nll"}) : last_finite(nll);
  double c = have ? json_number(e, {"test", "ece"}) : last_finite(ece);
  double ts_before = json_number(e, {"temperature", "before", "ece"}),
         ts = json_number(e, {"temperature", "after", "ece"});
  double t = json_number(e, {"temperature", "value"});
  bool half = have && e.contains("temperature") &&
              e["temperature"].value("fit_on", std::string()).find("test set") != std::string::npos;
  *test_half_note = *test_half_note || half;
  double mean_ips = 0;
  int k = 0;
  for (double v : ips)
    if (std::isfinite(v)) mean_ips += v, ++k;
  mean_ips = k ? mean_ips / k : NAN;
  double params = json_number(e, {"model", "params"}), active = json_number(e, {"model", "active_params"});
  double flops = json_number(e, {"model", "flops"});
  std::ostringstream o;
  o << "| " << r.kind << " | " << r.name << " (" << r.model << ") | " << r.dataset << " | "
    << (std::isfinite(params) ? grouped(int64_t(params)) : "-") << " | "
    << (std::isfinite(active) ? grouped(int64_t(active)) : "-") << " | "
    << (std::isfinite(flops) ? metrics::human_count(flops) : "-") << " | " << fixed(100 * a, 2) << "% | " << fixed(n, 4)
    << " | " << fixed(c, 4) << " | "
    << (std::isfinite(ts)
            ? fixed(ts_before, 4) + " → " + fixed(ts, 4) + " (T " + fixed(t, 2) + ")" + std::string(half ? " *" : "")
            : std::string("-"))
    << " | " << fixed(mean_ips, 0) << " | " << fixed(last_finite(epochs), 0) << " | " << duration(last_finite(wall))
    << " |";
  if (with_corruptions) {
    double ca = json_number(e, {"corruptions", "mean_accuracy"});
    double images = json_number(e, {"corruptions", "images"});
    o << " "
      << (std::isfinite(ca) ? fixed(100 * ca, 2) + "% (" + grouped(int64_t(images)) + " images)" : std::string("-"))
      << " |";
  }
  return o.str();
}

// Rows of one dataset together (in order of first appearance), dense before MoE.
void sort_runs(std::vector<Run>* runs) {
  std::vector<std::string> datasets;
  for (const auto& r : *runs)
    if (std::find(datasets.begin(), datasets.end(), r.dataset) == datasets.end()) datasets.push_back(r.dataset);
  std::stable_sort(runs->begin(), runs->end(), [&](const Run& a, const Run& b) {
    auto da = std::find(datasets.begin(), datasets.end(), a.dataset) - datasets.begin();
    auto db = std::find(datasets.begin(), datasets.end(), b.dataset) - datasets.begin();
    if (da != db) return da < db;
    return (a.kind == "Dense") > (b.kind == "Dense");
  });
}

// The title, what the columns mean, and how to reproduce each run.
void write_intro(std::ostringstream& md, const std::vector<Run>& runs, const std::string& note) {
  md << "# Results\n\n";
  if (!note.empty()) md << note << "\n\n";
  md << "Written by `report_app` from " << runs.size() << " run director" << (runs.size() == 1 ? "y" : "ies")
     << ". Accuracy, NLL and ECE (" << (runs[0].eval.is_object() ? runs[0].eval.value("bins", 15) : 15)
     << " bins) are on the test set for the checkpoint `eval_app` evaluated; img/s is the mean training "
        "throughput over epochs; FLOPs are per image (2 x multiply-adds of convolutions and matrix products).\n\n";
  md << "## Reproduce\n\n";
  for (const auto& r : runs) {
    md << "**" << r.kind << ": " << r.name << "** (" << r.dataset << "), from the saved effective configuration:\n\n";
    std::string corruptions;
    if (r.eval.is_object() && r.eval.contains("corruptions")) {
      corruptions = " --corruptions";
      double images = json_number(r.eval, {"corruptions", "images"}), test = json_number(r.eval, {"test", "images"});
      if (std::isfinite(images) && std::isfinite(test) && images < test)
        corruptions += " --corruption-images " + std::to_string(int64_t(images));
    }
    md << "```sh\nbuild/train_app " << r.dir << "/config.json\n"
       << "build/eval_app <the new run directory>" << corruptions << "\n```\n\n";
  }
}

// The table of runs and the notes its marks refer to.
void write_table(std::ostringstream& md, const std::vector<Run>& runs, bool with_corruptions) {
  md << "## Table\n\n";
  md << "| kind | model | dataset | params | active params | FLOPs | accuracy | NLL | ECE | ECE before → after "
        "temperature scaling | "
        "img/s | epochs | wall time |"
     << (with_corruptions ? " accuracy under corruption |" : "") << "\n";
  md << "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" << (with_corruptions ? "---:|" : "") << "\n";
  bool half_note = false, missing_eval = false;
  for (const auto& r : runs) {
    md << row(r, with_corruptions, &half_note) << "\n";
    missing_eval = missing_eval || r.eval.is_null();
  }
  md << "\n";
  if (half_note)
    md << "\\* No validation split was held out (`data.val_size` = 0): the temperature was fitted on a seeded half "
          "of the test set, and the ECE before and after scaling is measured on the other half.\n\n";
  if (missing_eval)
    md << "Rows with `-` in params, FLOPs and calibration have no `eval.json`: run `build/eval_app <run_dir>`; their "
          "accuracy, NLL and ECE are the last epoch's from `metrics.csv`.\n\n";
  if (with_corruptions)
    md << "Accuracy under corruption: the mean over 8 corruptions x 5 severities (`eval_app --corruptions`).\n\n";
}

// Test accuracy and ECE over epochs, every run in one figure; returns its path.
std::string save_curves(const std::vector<Run>& runs, const std::string& out_path, const std::string& out_dir) {
  std::vector<plot::Series> acc, ece;
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& m = runs[i].metrics;
    std::string label = runs[i].kind + " " + runs[i].name;
    acc.push_back({label, m.numbers("epoch"), m.numbers("test_acc"), plot::series_color(int(i)), false});
    ece.push_back({label, m.numbers("epoch"), m.numbers("test_ece"), plot::series_color(int(i)), false});
  }
  plot::LinePanel pa{"test accuracy", "epoch", "accuracy", acc, false};
  plot::LinePanel pe{"test ECE", "epoch", "ECE", ece, true};
  pa.integer_x = pe.integer_x = true;
  std::string stem = fs::path(out_path).stem().string();
  std::string fig = out_dir + "/" + stem + "_curves.png";
  plot::line_panels({pa, pe}, 2).save(fig);
  return fig;
}

// Per run, its reliability diagram and (MoE) expert load shown inline, when eval_app drew them.
void write_figures(std::ostringstream& md, const std::vector<Run>& runs, const std::string& out_dir) {
  std::ostringstream figs;
  for (const auto& r : runs) {
    if (!r.eval.is_object() || !r.eval.contains("plots")) continue;
    for (const auto& p : r.eval["plots"]) {
      std::string rel = p.get<std::string>(), stem = fs::path(rel).stem().string();
      if (stem != "reliability" && stem != "moe_expert_load") continue;
      std::replace(stem.begin(), stem.end(), '_', ' ');
      figs << "<img src=\"" << relative_to(r.dir + "/" + rel, out_dir) << "\" width=\"360\" alt=\"" << r.kind << " "
           << r.name << ": " << stem << "\"> ";
    }
  }
  if (!figs.str().empty())
    md << "## Figures\n\nReliability diagrams and expert load, per run:\n\n" << figs.str() << "\n\n";
}

// Per run, links to the plots its eval.json lists.
void write_plot_links(std::ostringstream& md, const std::vector<Run>& runs, const std::string& out_dir) {
  md << "## Plots\n\n";
  for (const auto& r : runs) {
    md << "- **" << r.kind << ": " << r.name << "**: ";
    std::vector<std::string> links;
    if (r.eval.is_object() && r.eval.contains("plots"))
      for (const auto& p : r.eval["plots"]) {
        std::string rel = p.get<std::string>();
        std::string title = fs::path(rel).stem().string();
        std::replace(title.begin(), title.end(), '_', ' ');
        links.push_back("[" + title + "](" + relative_to(r.dir + "/" + rel, out_dir) + ")");
      }
    if (links.empty()) md << "none yet (run `build/eval_app " << r.dir << "`)";
    for (size_t i = 0; i < links.size(); ++i) md << (i ? " · " : "") << links[i];
    md << "\n";
  }
}

int run(const std::vector<std::string>& dirs, const std::string& out_path, const std::string& note) {
  std::vector<Run> runs;
  for (const auto& d : dirs) runs.push_back(load_run(d));
  sort_runs(&runs);
  std::string out_dir = fs::path(out_path).parent_path().string();
  if (out_dir.empty()) out_dir = ".";
  bool with_corruptions = std::any_of(
      runs.begin(), runs.end(), [](const Run& r) { return r.eval.is_object() && r.eval.contains("corruptions"); });
  std::ostringstream md;
  write_intro(md, runs, note);
  write_table(md, runs, with_corruptions);
  std::string fig = save_curves(runs, out_path, out_dir);
  md << "![test accuracy and ECE over epochs](" << relative_to(fig, out_dir) << ")\n\n";
  write_figures(md, runs, out_dir);
  write_plot_links(md, runs, out_dir);
  io::write_file_atomic(out_path, md.str());
  std::cout << "wrote " << out_path << " (" << runs.size() << " runs) and " << fig << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> dirs;
  std::string out = "RESULTS.md", note;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--out" || a == "--note") {
      if (i + 1 >= argc) {
        std::cerr << "report_app: " << a << " needs a value\n" << kUsage;
        return 2;
      }
      (a == "--out" ? out : note) = argv[++i];
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--list") {
      if (i + 1 >= argc) {
        std::cerr << "report_app: --list needs a folder\n" << kUsage;
        return 2;
      }
      std::string root = argv[++i];
      return app::run_guarded("report_app", [&] {
        ENGINE_CONFIG_CHECK(fs::is_directory(root), "--list " << root << ": no such folder");
        std::cout << app::runs_table(app::list_runs(root));
        return 0;
      });
    } else if (!a.empty() && a[0] != '-') {
      dirs.push_back(a);
    } else {
      std::cerr << "report_app: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (dirs.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  return app::run_guarded("report_app", [&] { return run(dirs, out, note); });
}
