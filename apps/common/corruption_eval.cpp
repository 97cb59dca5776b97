#include "apps/common/corruption_eval.h"

#include <iomanip>
#include <iostream>
#include <numeric>
#include <sstream>

#include "data/corruptions.h"
#include "engine/io/atomic_file.h"
#include "metrics/plot/charts.h"

namespace engine::app {
namespace {

using data::Corruption;

// The corruption results of one dataset: per corruption and severity, and their means.
struct CorruptionTable {
  std::string csv;
  io::Json per = io::Json::array();
  std::vector<plot::Series> acc_series, ece_series;
  std::vector<double> mean_acc = std::vector<double>(5, 0.0), mean_nll = std::vector<double>(5, 0.0),
                      mean_ece = std::vector<double>(5, 0.0);
  double acc = 0, nll = 0, ece = 0;  // over corruptions and severities
};

// Evaluates `d` under every corruption and severity, printing a line each.
CorruptionTable evaluate_corruptions(nn::Module& model, const data::Dataset& d, const TrainConfig& cfg, Device device,
                                     const CorruptionOptions& opt, const EvalSummary& base) {
  CorruptionTable t;
  std::ostringstream csv;
  csv << "corruption,severity,images,accuracy,nll,ece,brier\n";
  csv << "clean,0," << base.images << "," << base.accuracy << "," << base.nll << "," << base.ece << "," << base.brier
      << "\n";
  const auto& all = data::all_corruptions();
  std::vector<double> sev{1, 2, 3, 4, 5};
  for (size_t ci = 0; ci < all.size(); ++ci) {
    std::string name = data::corruption_name(all[ci]);
    std::vector<double> accs, eces;
    for (int s = 1; s <= data::kNumSeverities; ++s) {
      data::Dataset cd = data::corrupt_dataset(d, all[ci], s, opt.seed);
      EvalSummary r = summarize(evaluate_logits(model, cd, cfg, device), opt.bins);
      std::cout << std::left << std::setw(16) << name << std::right << std::setw(10) << s << std::setw(10)
                << fixed_point(r.accuracy) << std::setw(10) << fixed_point(r.nll) << std::setw(10) << fixed_point(r.ece)
                << std::endl;
      csv << name << "," << s << "," << r.images << "," << r.accuracy << "," << r.nll << "," << r.ece << "," << r.brier
          << "\n";
      t.per.push_back(
          {{"corruption", name}, {"severity", s}, {"accuracy", r.accuracy}, {"nll", r.nll}, {"ece", r.ece}});
      accs.push_back(r.accuracy);
      eces.push_back(r.ece);
      t.mean_acc[size_t(s - 1)] += r.accuracy / double(all.size());
      t.mean_nll[size_t(s - 1)] += r.nll / double(all.size());
      t.mean_ece[size_t(s - 1)] += r.ece / double(all.size());
    }
    t.acc_series.push_back({name, sev, accs, plot::series_color(int(ci)), false});
    t.ece_series.push_back({name, sev, eces, plot::series_color(int(ci)), false});
  }
  t.acc = std::accumulate(t.mean_acc.begin(), t.mean_acc.end(), 0.0) / 5;
  t.nll = std::accumulate(t.mean_nll.begin(), t.mean_nll.end(), 0.0) / 5;
  t.ece = std::accumulate(t.mean_ece.begin(), t.mean_ece.end(), 0.0) / 5;
  for (int s = 1; s <= data::kNumSeverities; ++s)
    csv << "mean," << s << "," << d.size() << "," << t.mean_acc[size_t(s - 1)] << "," << t.mean_nll[size_t(s - 1)]
        << "," << t.mean_ece[size_t(s - 1)] << ",\n";
  csv << "mean,all," << d.size() << "," << t.acc << "," << t.nll << "," << t.ece << ",\n";
  t.csv = csv.str();
  return t;
}

// One test image under every corruption and severity (clean first), and accuracy and
// ECE over severities per corruption.
void plot_corruptions(const data::Dataset& d, const CorruptionOptions& opt, const EvalSummary& base, CorruptionTable& t,
                      const std::string& out_dir, std::vector<std::string>* plots) {
  std::vector<Tensor> keep;
  std::vector<plot::GridImage> items;
  Tensor first = data::subset(d, 0, 1).images.contiguous();
  for (Corruption c : data::all_corruptions()) {
    for (int s = 0; s <= data::kNumSeverities; ++s) {
      keep.push_back(s == 0 ? first : data::corrupt_images(first, c, s, opt.seed));
      plot::GridImage g{keep.back().data<uint8_t>(), int(d.channels()), int(d.height()), int(d.width()), {}};
      g.captions.push_back({s == 0 ? data::corruption_name(c) : "severity " + std::to_string(s), plot::colors::black});
      items.push_back(g);
    }
  }
  std::string examples = out_dir + "/plots/corruption_examples.png";
  plot::image_grid(items, data::kNumSeverities + 1, d.height() <= 32 ? 3 : 2, "corruptions of test image 0")
      .save(examples);
  plots->push_back(examples);
  std::vector<double> sev{1, 2, 3, 4, 5};
  t.acc_series.push_back({"mean", sev, t.mean_acc, plot::colors::black, true});
  t.acc_series.push_back({"clean", {1, 5}, {base.accuracy, base.accuracy}, plot::colors::grey, true});
  t.ece_series.push_back({"mean", sev, t.mean_ece, plot::colors::black, true});
  plot::LinePanel pa{"accuracy under corruption", "severity", "accuracy", t.acc_series, false};
  plot::LinePanel pe{"calibration under corruption", "severity", "ECE", t.ece_series, true};
  pa.integer_x = pe.integer_x = true;
  std::string path = out_dir + "/plots/corruptions.png";
  plot::line_panels({pa, pe}, 2).save(path);
  plots->push_back(path);
}

}  // namespace

io::Json run_corruptions(nn::Module& model, const data::Dataset& test, const TrainConfig& cfg, Device device,
                         const CorruptionOptions& opt, const EvalSummary& clean, const std::string& out_dir,
                         std::vector<std::string>* plots) {
  data::Dataset d = test;
  if (opt.images > 0 && opt.images < d.size()) d = data::subset(d, 0, opt.images);
  EvalSummary base =
      opt.images > 0 && opt.images < test.size() ? summarize(evaluate_logits(model, d, cfg, device), opt.bins) : clean;
  std::cout << "corruptions on " << d.size() << " test images (seed " << opt.seed << "); clean accuracy "
            << fixed_point(base.accuracy) << "\n"
            << std::left << std::setw(16) << "corruption" << std::right << std::setw(10) << "severity" << std::setw(10)
            << "accuracy" << std::setw(10) << "NLL" << std::setw(10) << "ECE"
            << "\n";
  CorruptionTable t = evaluate_corruptions(model, d, cfg, device, opt, base);
  std::cout << "mean over corruptions and severities: accuracy " << fixed_point(t.acc) << ", NLL " << fixed_point(t.nll)
            << ", ECE " << fixed_point(t.ece) << std::endl;
  io::write_file_atomic(out_dir + "/corruptions.csv", t.csv);
  std::cout << "corruptions table: " << out_dir << "/corruptions.csv" << std::endl;
  if (opt.plots) plot_corruptions(d, opt, base, t, out_dir, plots);
  return {
      {"images", d.size()}, {"seed", opt.seed},  {"clean_accuracy", base.accuracy},         {"mean_accuracy", t.acc},
      {"mean_nll", t.nll},  {"mean_ece", t.ece}, {"mean_accuracy_by_severity", t.mean_acc}, {"results", t.per}};
}

}  // namespace engine::app
