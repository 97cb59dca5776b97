// eval_app <run_dir | checkpoint.safetensors> [options]
// Evaluates a trained model on its test set: accuracy, NLL, ECE, MCE, Brier score,
// temperature scaling, parameters and FLOPs, a per-sample predictions file, plots in
// <run_dir>/plots/, a summary eval.json for report_app, and with --corruptions the
// accuracy, NLL and ECE under CIFAR-C style corruptions at five severities. --set
// overrides the run's configuration (eval batch size, MoE evaluation capacity).
#include <algorithm>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "apps/common/cli.h"
#include "apps/common/corruption_eval.h"
#include "apps/common/evaluation.h"
#include "apps/common/model_card.h"
#include "apps/common/multimodal_plots.h"
#include "apps/common/run_plots.h"
#include "apps/common/trainer.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "engine/nn/moe/moe_layer.h"
#include "metrics/model_stats.h"
#include "metrics/plot/charts.h"

namespace fs = std::filesystem;
using namespace engine;

namespace {

const char* kUsage =
    "usage: eval_app <run_dir | checkpoint.safetensors> [--config config.json] [--data DIR] [--device D]\n"
    "                [--bins N] [--out predictions.csv] [--seed S] [--no-plots] [--layers]\n"
    "                [--corruptions] [--corruption-images N] [--records A:B] [--set key.path=value ...]\n"
    "                [--tta-hflip] [--allow-non-finite]\n"
    "--tta-hflip averages each test image's class probabilities with its mirror image's.\n"
    "A checkpoint holding NaN or inf is refused unless --allow-non-finite is given.\n";

struct Options {
  std::string target, config_path, data_dir, out_path, device;
  int bins = 15;
  uint64_t seed = 0;
  bool plots = true, layers = false, corruptions = false, allow_non_finite = false;
  bool tta_hflip = false;         // test-time augmentation: mean probabilities of the image and its mirror image
  int64_t corruption_images = 0;  // 0: the whole test set
  // Test records [begin, end) reported on their own as well (e.g. 0:1000 for the
  // records of a test set that are known to be unaltered); begin < 0: none.
  int64_t records_begin = -1, records_end = -1;
  // Overrides of the run's configuration, applied after --data and --device (e.g.
  // training.eval_batch_size=5, moe.eval_capacity_factor=1.25).
  std::vector<std::string> sets;
};

io::Json summary_json(const app::EvalSummary& s) {
  return {{"images", s.images}, {"accuracy", s.accuracy}, {"nll", s.nll},
          {"ece", s.ece},       {"mce", s.mce},           {"brier", s.brier}};
}

plot::Figure reliability(const app::EvalSummary& s, const std::string& what) {
  return plot::reliability_diagram(
      s.bins.count, s.bins.confidence_sum, s.bins.correct_sum,
      what + ": ECE " + app::fixed_point(s.ece) + ", acc " + app::fixed_point(s.accuracy, 3));
}

std::string class_name(const data::Dataset& d, int64_t k) {
  return size_t(k) < d.class_names.size() ? d.class_names[size_t(k)] : std::to_string(k);
}

// A grid of test images with the true label (black) and the prediction with its
// confidence (green when right, red when wrong).
plot::Figure sample_grid(const data::Dataset& d, const Tensor& images, const std::vector<float>& probs, int64_t classes,
                         const std::vector<int64_t>& rows, const std::string& title,
                         const std::vector<std::vector<std::string>>& extra = {}) {
  int64_t per = d.channels() * d.height() * d.width();
  std::vector<plot::GridImage> items;
  for (int64_t i : rows) {
    const float* p = probs.data() + i * classes;
    int64_t pred = int64_t(std::max_element(p, p + classes) - p);
    int64_t label = d.labels.data<int64_t>()[i];
    plot::GridImage g;
    g.chw = images.data<uint8_t>() + i * per;
    g.channels = int(d.channels());
    g.height = int(d.height());
    g.width = int(d.width());
    g.captions.push_back({class_name(d, label), plot::colors::black});
    g.captions.push_back({class_name(d, pred) + " " + std::to_string(int(std::lround(p[pred] * 100))) + "%",
                          pred == label ? plot::colors::green : plot::colors::red});
    if (items.size() < extra.size())
      for (const auto& line : extra[items.size()]) g.captions.push_back({line, plot::colors::blue});
    items.push_back(g);
  }
  return plot::image_grid(items, 8, d.height() <= 32 ? 4 : 2, title);
}

using MoeLayers = std::vector<std::pair<std::string, nn::moe::MoELayer*>>;

// Hooks that hand each batch's labels (or, with by_index, each image's index in the
// dataset as its "class") to every MoE layer and add up the layers' statistics.
app::EvalHooks moe_hooks(const MoeLayers& layers, std::vector<nn::moe::MoEStats>* stats, int64_t classes,
                         bool by_index) {
  stats->assign(layers.size(), nn::moe::MoEStats{});
  app::EvalHooks h;
  h.before_batch = [=](const Tensor& labels, const Tensor& indices) {
    for (const auto& [name, l] : layers) l->set_labels(by_index ? indices : labels, classes);
  };
  h.after_batch = [=](const Tensor&) {
    for (size_t i = 0; i < layers.size(); ++i) (*stats)[i].add(layers[i].second->last_stats());
  };
  return h;
}

// Per image of `rows`, one caption line per MoE layer: the expert that took most of
// its tokens and that share ("layer3 e2 61%").
std::vector<std::vector<std::string>> experts_per_image(nn::Module& model, const MoeLayers& layers,
                                                        const data::Dataset& test, const std::vector<int64_t>& rows,
                                                        const app::TrainConfig& cfg, Device device) {
  data::Dataset sub = data::gather(test, rows);
  std::vector<nn::moe::MoEStats> stats;
  int64_t n = sub.size();
  app::evaluate_logits(model, sub, cfg, device, moe_hooks(layers, &stats, n, true));
  for (const auto& [name, l] : layers) l->set_labels(Tensor(), 0);
  std::vector<std::vector<std::string>> lines(rows.size());
  for (size_t li = 0; li < layers.size(); ++li) {
    const auto& s = stats[li];
    int64_t experts = int64_t(s.counts.size());
    if (s.num_classes != n) continue;
    for (int64_t i = 0; i < n; ++i) {
      int64_t best = 0, total = 0;
      for (int64_t e = 0; e < experts; ++e) {
        int64_t v = s.expert_class[size_t(e * n + i)];
        total += v;
        if (v > s.expert_class[size_t(best * n + i)]) best = e;
      }
      int64_t share = total ? std::lround(100.0 * double(s.expert_class[size_t(best * n + i)]) / double(total)) : 0;
      lines[size_t(i)].push_back(app::short_layer_name(layers[li].first) + " e" + std::to_string(best) + " " +
                                 std::to_string(share) + "%");
    }
  }
  return lines;
}

app::CorruptionOptions corruption_options(const Options& opt) {
  app::CorruptionOptions c;
  c.bins = opt.bins;
  c.seed = opt.seed;
  c.plots = opt.plots;
  c.images = opt.corruption_images;
  return c;
}

// What every part of an evaluation works on: the checkpoint, its run directory and
// configuration, the data, and the model with the checkpoint's weights.
struct EvalRun {
  std::string ckpt, run_dir;
  app::TrainConfig cfg;
  Device device;
  app::Datasets ds;
  std::shared_ptr<nn::Module> model;
  MoeLayers moe;
};

// The run directory holding a checkpoint file: the nearest folder above it (at most three
// levels: <run>/checkpoints/epoch-N/model.safetensors) with a config.json; else "" (the
// checkpoint's own metadata then describes it, model_card.h).
std::string run_dir_of(const std::string& checkpoint) {
  fs::path p = fs::absolute(checkpoint).parent_path();
  for (int up = 0; up < 3 && !p.empty(); ++up, p = p.parent_path())
    if (fs::exists(p / "config.json")) return p.string();
  return "";
}

// A run directory's last checkpoint, or a checkpoint file of a run. The default is not
// best.safetensors: that is the epoch of the highest test accuracy, and evaluating it on
// the test set would report a figure chosen on the test set.
EvalRun open_run(const Options& opt) {
  EvalRun r;
  r.ckpt = opt.target;
  ENGINE_CONFIG_CHECK(fs::exists(opt.target), "'" << opt.target << "' does not exist: expected a run directory or a "
                                                  << "checkpoint.safetensors file");
  if (fs::is_directory(opt.target)) {
    r.run_dir = opt.target;
    r.ckpt = r.run_dir + "/checkpoints/last.safetensors";
    ENGINE_CHECK(!fs::exists(r.run_dir + "/config.json") || fs::exists(r.ckpt),
                 "the run directory '" << r.run_dir << "' has no published checkpoint yet (its first epoch has not "
                                       << "ended): nothing to evaluate");
  } else {
    ENGINE_CONFIG_CHECK(fs::path(opt.target).extension() == ".safetensors",
                        "'" << opt.target << "' is neither a run directory nor a .safetensors checkpoint");
    r.run_dir = run_dir_of(opt.target);
  }
  std::vector<std::string> sets;
  if (!opt.data_dir.empty()) sets.push_back("data.path=" + io::Json(opt.data_dir).dump());
  if (!opt.device.empty()) sets.push_back("device=" + io::Json(opt.device).dump());
  sets.insert(sets.end(), opt.sets.begin(), opt.sets.end());
  if (opt.config_path.empty() && r.run_dir.empty()) {
    // A checkpoint on its own: its metadata carries the configuration; outputs go beside it.
    r.cfg = app::config_from_checkpoint(r.ckpt, sets);
    r.run_dir = fs::path(fs::absolute(r.ckpt)).parent_path().string();
    std::cout << "configuration from the checkpoint's metadata (no config.json above it)\n";
  } else {
    if (r.run_dir.empty()) r.run_dir = fs::path(fs::absolute(r.ckpt)).parent_path().string();
    r.cfg =
        app::load_train_config(opt.config_path.empty() ? r.run_dir + "/config.json" : opt.config_path, sets, nullptr);
  }
  ENGINE_CONFIG_CHECK(opt.bins >= 1 && opt.bins <= 1000, "--bins " << opt.bins << " is out of range: expected 1..1000");
  r.device = app::resolve_device(r.cfg.device);
  r.ds = app::load_datasets(r.cfg);
  r.model = app::build_model(r.cfg, r.ds.train);
  io::SafetensorsData sd = io::load_safetensors(r.ckpt);
  std::vector<std::pair<std::string, Tensor>> state;
  for (const auto& n : sd.order) state.emplace_back(n, sd.tensors.at(n));
  nn::LoadOptions lo;
  lo.allow_non_finite = opt.allow_non_finite;
  r.model->load_state_dict(state, true, lo);
  r.model->to(r.device);
  std::cout << "checkpoint " << r.ckpt << "\n";
  r.moe = nn::moe::find_moe_layers(*r.model);
  return r;
}

// Parameters and FLOPs: printed (per layer with --layers) and kept in layers.csv.
metrics::ModelStats report_model_stats(const EvalRun& r, const Options& opt) {
  const data::Dataset& test = r.ds.test;
  metrics::ModelStats ms = metrics::model_stats(*r.model, {test.channels(), test.height(), test.width()}, r.device);
  if (opt.layers) metrics::print_model_stats(ms, std::cout);
  std::cout << "model: " << ms.total_params << " parameters (" << ms.active_params << " active per input), "
            << metrics::human_count(double(ms.flops())) << " FLOPs per image (2 x " << ms.macs << " MACs)\n";
  io::write_file_atomic(r.run_dir + "/layers.csv", metrics::model_stats_csv(ms));
  return ms;
}

// --records A:B: those test records on their own (null without the option).
io::Json report_records(const app::EvalOutput& test, const Options& opt) {
  if (opt.records_begin < 0) return io::Json();
  ENGINE_CONFIG_CHECK(opt.records_end <= test.size(), "--records " << opt.records_begin << ":" << opt.records_end
                                                                   << " goes past the test set's " << test.size()
                                                                   << " records");
  std::vector<int64_t> rows;
  for (int64_t i = opt.records_begin; i < opt.records_end; ++i) rows.push_back(i);
  app::EvalSummary r = app::summarize(app::select_rows(test, rows), opt.bins);
  std::cout << std::fixed << std::setprecision(4) << "test records " << opt.records_begin << ".." << opt.records_end - 1
            << " (" << r.images << " images): accuracy " << r.accuracy << ", NLL " << r.nll << ", ECE " << r.ece
            << std::endl;
  return {{"begin", opt.records_begin}, {"end", opt.records_end}, {"images", r.images},
          {"accuracy", r.accuracy},     {"nll", r.nll},           {"ece", r.ece}};
}

struct TemperatureResult {
  metrics::TemperatureFit fit;
  std::string fit_on, report_on;
  int64_t fit_images = 0;
  app::EvalSummary before, after;
};

// Temperature scaling: fitted on the validation split when the run held one out,
// otherwise on a seeded half of the test set and reported on the other half.
TemperatureResult temperature_scaling(const EvalRun& r, const app::EvalOutput& test, const Options& opt) {
  TemperatureResult t;
  app::EvalOutput fit_set, report_set;
  if (r.ds.val.size() > 0) {
    fit_set = app::evaluate_logits(*r.model, r.ds.val, r.cfg, r.device, {}, opt.tta_hflip);
    report_set = test;
    t.fit_on = "the validation split";
    t.report_on = "the test set";
  } else {
    std::vector<int64_t> perm = data::random_permutation(test.size(), data::derive_seed(opt.seed, 0x7E57));
    int64_t half = test.size() / 2;
    fit_set = app::select_rows(test, std::vector<int64_t>(perm.begin(), perm.begin() + half));
    report_set = app::select_rows(test, std::vector<int64_t>(perm.begin() + half, perm.end()));
    t.fit_on = "a seeded half of the test set (no validation split; seed " + std::to_string(opt.seed) + ")";
    t.report_on = "the other half of the test set";
  }
  t.fit = metrics::fit_temperature(fit_set.logit_data(), fit_set.labels.data(), fit_set.size(), fit_set.classes());
  t.fit_images = fit_set.size();
  t.before = app::summarize(report_set, opt.bins);
  t.after = app::summarize(report_set, opt.bins, t.fit.temperature);
  std::cout << "temperature scaling, fitted on " << t.fit_on << " (" << fit_set.size() << " images), reported on "
            << t.report_on << " (" << report_set.size() << " images):\n  T = " << t.fit.temperature << ": NLL "
            << t.before.nll << " -> " << t.after.nll << ", ECE " << t.before.ece << " -> " << t.after.ece << ", Brier "
            << t.before.brier << " -> " << t.after.brier << std::endl;
  return t;
}

// predictions.csv: per test image its label, the prediction, its confidence and every
// class probability.
void write_predictions(const std::string& path, const app::EvalOutput& test, const std::vector<float>& probs) {
  std::ostringstream o;
  int64_t n = test.size(), c = test.classes();
  o << "index,label,prediction,confidence";
  for (int64_t k = 0; k < c; ++k) o << ",p" << k;
  o << "\n" << std::setprecision(6);
  for (int64_t i = 0; i < n; ++i) {
    const float* row = probs.data() + i * c;
    int64_t pred = int64_t(std::max_element(row, row + c) - row);
    o << i << "," << test.labels[size_t(i)] << "," << pred << "," << row[pred];
    for (int64_t k = 0; k < c; ++k) o << "," << row[k];
    o << "\n";
  }
  io::write_file_atomic(path, o.str());
}

// Test images with their predictions: a random sample (with the top expert per MoE
// layer) and the most confident mistakes.
void plot_samples(const EvalRun& r, const app::EvalOutput& test, const std::vector<float>& probs, uint64_t seed,
                  const std::function<void(const plot::Figure&, const std::string&)>& save) {
  const data::Dataset& d = r.ds.test;
  Tensor images = d.images.contiguous();
  int64_t c = test.classes();
  std::vector<int64_t> perm = data::random_permutation(test.size(), data::derive_seed(seed, 0x5A3));
  perm.resize(size_t(std::min<int64_t>(24, test.size())));
  std::string grid_title = "random test images: true label, prediction";
  std::vector<std::vector<std::string>> experts;
  if (!r.moe.empty()) {
    experts = experts_per_image(*r.model, r.moe, d, perm, r.cfg, r.device);
    grid_title += ", top expert per MoE layer";
  }
  save(sample_grid(d, images, probs, c, perm, grid_title, experts), "samples.png");
  std::vector<int64_t> wrong;
  for (int64_t i = 0; i < test.size(); ++i) {
    const float* p = probs.data() + i * c;
    if (std::max_element(p, p + c) - p != test.labels[size_t(i)]) wrong.push_back(i);
  }
  auto conf = [&](int64_t i) { return *std::max_element(probs.data() + i * c, probs.data() + (i + 1) * c); };
  std::stable_sort(wrong.begin(), wrong.end(), [&](int64_t a, int64_t b) { return conf(a) > conf(b); });
  wrong.resize(std::min<size_t>(wrong.size(), 16));
  if (!wrong.empty()) save(sample_grid(d, images, probs, c, wrong, "most confident mistakes"), "mistakes.png");
}

// A model trained without some classes: seen and held-out accuracy over all classes as
// the shift taken off the seen classes' logits grows, beside the seen-unseen curve, with
// the plain argmax (shift 0) and the label-free calibrated shift marked.
plot::Figure zero_shot_tradeoff(const app::EvalOutput& test, const std::vector<int64_t>& heldout) {
  const app::ZeroShotCurve c = app::zero_shot_curve(test, heldout);
  const app::ZeroShotSummary z = app::zero_shot_summary(test, heldout);
  plot::Series seen{"seen classes", {}, {}, plot::colors::blue}, held{"held-out classes", {}, {}, plot::colors::red};
  plot::Series curve{"seen vs held-out", {}, {}, plot::colors::blue};
  for (const app::ZeroShotPoint& p : c.points) {
    seen.x.push_back(p.shift);
    seen.y.push_back(p.seen_accuracy);
    held.x.push_back(p.shift);
    held.y.push_back(p.heldout_accuracy);
    curve.x.push_back(p.heldout_accuracy);
    curve.y.push_back(p.seen_accuracy);
  }
  auto mark = [](const std::string& name, double x, plot::Color color) {
    return plot::Series{name, {x, x}, {0.0, 1.0}, color, true};
  };
  plot::LinePanel by_shift{
      "accuracy over all classes vs shift",
      "shift",
      "accuracy",
      {seen, held, mark("no shift", 0.0, plot::colors::black),
       mark("calibrated " + app::fixed_point(z.calibration_shift, 2), z.calibration_shift, plot::colors::green)}};
  by_shift.y_min = 0;
  by_shift.y_max = 1;
  plot::Series points{"calibrated",
                      {z.calibrated_heldout_accuracy, z.calibrated_heldout_accuracy},
                      {0.0, z.calibrated_seen_accuracy},
                      plot::colors::green,
                      true};
  plot::LinePanel tradeoff{
      "seen-unseen curve, area " + app::fixed_point(c.area, 3), "held-out accuracy", "seen accuracy", {curve, points}};
  tradeoff.y_min = 0;
  tradeoff.y_max = 1;
  return plot::line_panels({by_shift, tradeoff}, 2);
}

// Per MoE layer, the slots its experts took per class of the test set.
void plot_moe_test(const EvalRun& r, const std::vector<nn::moe::MoEStats>& moe_test,
                   const std::function<void(const plot::Figure&, const std::string&)>& save) {
  for (size_t li = 0; li < r.moe.size(); ++li) {
    const auto& s = moe_test[li];
    if (s.num_classes <= 0) continue;
    std::vector<std::vector<double>> counts(s.counts.size(), std::vector<double>(size_t(s.num_classes)));
    for (size_t e = 0; e < counts.size(); ++e)
      for (int64_t k = 0; k < s.num_classes; ++k)
        counts[e][size_t(k)] = double(s.expert_class[e * size_t(s.num_classes) + size_t(k)]);
    std::string name = app::short_layer_name(r.moe[li].first);
    save(app::expert_class_heatmap(counts, r.ds.test.class_names, name + ": experts per class, test set"),
         "moe_test_expert_class_" + name + ".png");
  }
}

// The plots in <run_dir>/plots/; returns their paths.
std::vector<std::string> make_plots(const EvalRun& r, const Options& opt, const app::EvalOutput& test,
                                    const std::vector<float>& probs, const app::EvalSummary& s,
                                    const TemperatureResult& t, const std::vector<nn::moe::MoEStats>& moe_test) {
  std::vector<std::string> plots;
  std::string plot_dir = r.run_dir + "/plots";
  auto save = [&](const plot::Figure& f, const std::string& name) {
    f.save(plot_dir + "/" + name);
    plots.push_back(plot_dir + "/" + name);
  };
  save(reliability(s, "test"), "reliability.png");
  save(reliability(t.after, "T = " + app::fixed_point(t.fit.temperature, 3) + " (" +
                                (r.ds.val.size() ? "test" : "test half") + ")"),
       "reliability_temperature.png");
  if (fs::exists(r.run_dir + "/metrics.csv")) {
    app::CsvTable m = app::read_csv(r.run_dir + "/metrics.csv");
    if (!m.rows.empty())
      save(app::training_curves(m, r.cfg.name.empty() ? r.cfg.model.arch : r.cfg.name), "training_curves.png");
  }
  plot_samples(r, test, probs, opt.seed, save);
  plot_moe_test(r, moe_test, save);
  if (!r.ds.holdout_classes.empty()) save(zero_shot_tradeoff(test, r.ds.holdout_classes), "zero_shot_tradeoff.png");
  if (auto* mm = dynamic_cast<models::MultimodalMoE*>(r.model.get())) {
    std::vector<int64_t> rows = data::random_permutation(test.size(), data::derive_seed(opt.seed, 0x3A7));
    rows.resize(size_t(std::min<int64_t>(16, test.size())));
    for (const auto& p : app::plot_multimodal(*mm, r.ds.test, rows, r.cfg, r.device,
                                              app::class_descriptions(r.cfg, r.ds.train), plot_dir))
      plots.push_back(p);
  }
  for (const auto& p : app::plot_moe_files(r.run_dir, plot_dir, r.ds.test.class_names)) plots.push_back(p);
  return plots;
}

// How the MoE layers ran in this evaluation: dropless or the capacity factor, and the
// slots dropped over the test set (all layers together). Null for a dense model.
io::Json moe_eval_report(const EvalRun& r, const std::vector<nn::moe::MoEStats>& moe_test) {
  if (r.moe.empty()) return io::Json();
  int64_t slots = 0, dropped = 0;
  for (const auto& s : moe_test) {
    slots += s.slots;
    dropped += s.dropped;
  }
  const auto& ecf = r.cfg.moe.eval_capacity_factor;
  std::cout << "moe evaluation: " << (ecf ? "capacity factor " + app::fixed_point(*ecf, 2) : std::string("dropless"))
            << ", eval batch " << r.cfg.training.eval_batch_size << ", " << dropped << " of " << slots
            << " slots dropped (" << app::fixed_point(100.0 * double(dropped) / double(std::max<int64_t>(slots, 1)), 2)
            << "%)\n";
  return {{"eval_capacity_factor", ecf ? io::Json(*ecf) : io::Json()},
          {"eval_batch_size", r.cfg.training.eval_batch_size},
          {"slots", slots},
          {"dropped_slots", dropped}};
}

io::Json eval_json(const EvalRun& r, const Options& opt, const metrics::ModelStats& ms, const app::EvalOutput& test,
                   const app::EvalSummary& s, const TemperatureResult& t) {
  return {
      {"checkpoint", r.ckpt},
      {"dataset", r.cfg.data.dataset},
      {"bins", opt.bins},
      {"test", summary_json(s)},
      {"eval_seconds", test.seconds},
      {"eval_img_per_s", double(test.size()) / std::max(test.seconds, 1e-9)},
      {"device", r.device.str()},
      {"model",
       {{"params", ms.total_params}, {"active_params", ms.active_params}, {"macs", ms.macs}, {"flops", ms.flops()}}},
      {"temperature",
       {{"value", t.fit.temperature},
        {"fit_on", t.fit_on},
        {"fit_images", t.fit_images},
        {"report_on", t.report_on},
        {"before", summary_json(t.before)},
        {"after", summary_json(t.after)}}}};
}

int run(const Options& opt) {
  EvalRun r = open_run(opt);
  metrics::ModelStats ms = report_model_stats(r, opt);
  std::vector<nn::moe::MoEStats> moe_test;
  app::EvalOutput test = app::evaluate_logits(
      *r.model, r.ds.test, r.cfg, r.device,
      r.moe.empty() ? app::EvalHooks{} : moe_hooks(r.moe, &moe_test, r.ds.test.num_classes, false), opt.tta_hflip);
  for (const auto& [name, l] : r.moe) l->set_labels(Tensor(), 0);
  if (opt.tta_hflip)
    std::cout << "test-time augmentation: each image's class probabilities averaged with its mirror image's\n";
  app::EvalSummary s = app::summarize(test, opt.bins);
  io::Json records_json = report_records(test, opt);
  std::cout << std::fixed << std::setprecision(4) << "test images " << s.images << ": accuracy " << s.accuracy
            << ", NLL " << s.nll << ", ECE (" << opt.bins << " bins) " << s.ece << ", MCE " << s.mce << ", Brier "
            << s.brier << std::endl;
  io::Json moe_json = moe_eval_report(r, moe_test);
  io::Json zero_shot_json;
  if (!r.ds.holdout_classes.empty()) {
    const app::ZeroShotSummary z = app::zero_shot_summary(test, r.ds.holdout_classes);
    std::cout << app::describe(z) << std::endl;
    zero_shot_json = {{"heldout_classes", r.ds.holdout_classes},
                      {"seen_images", z.seen_images},
                      {"heldout_images", z.heldout_images},
                      {"seen_accuracy", z.seen_accuracy},
                      {"heldout_accuracy", z.heldout_accuracy},
                      {"harmonic_mean", z.harmonic_mean},
                      {"heldout_accuracy_among_heldout", z.heldout_accuracy_among_heldout},
                      {"chance_all", z.chance_all},
                      {"chance_among_heldout", z.chance_among_heldout},
                      {"calibration_shift", z.calibration_shift},
                      {"heldout_prediction_share", z.heldout_prediction_share},
                      {"calibrated_seen_accuracy", z.calibrated_seen_accuracy},
                      {"calibrated_heldout_accuracy", z.calibrated_heldout_accuracy},
                      {"calibrated_harmonic_mean", z.calibrated_harmonic_mean},
                      {"seen_unseen_area", app::zero_shot_curve(test, r.ds.holdout_classes).area}};
  }
  TemperatureResult t = temperature_scaling(r, test, opt);

  std::string out_path = opt.out_path.empty() ? r.run_dir + "/predictions.csv" : opt.out_path;
  std::vector<float> probs = metrics::softmax_rows(test.logit_data(), test.size(), test.classes());
  write_predictions(out_path, test, probs);
  std::cout << "predictions: " << out_path << std::endl;

  std::vector<std::string> plots;
  if (opt.plots) plots = make_plots(r, opt, test, probs, s, t, moe_test);
  io::Json j = eval_json(r, opt, ms, test, s, t);
  if (!records_json.is_null()) j["records"] = records_json;
  j["tta"] = opt.tta_hflip ? io::Json("hflip") : io::Json();
  if (!moe_json.is_null()) j["moe_eval"] = moe_json;
  if (!zero_shot_json.is_null()) j["zero_shot"] = zero_shot_json;
  if (opt.corruptions)
    j["corruptions"] =
        app::run_corruptions(*r.model, r.ds.test, r.cfg, r.device, corruption_options(opt), s, r.run_dir, &plots);
  io::Json rel = io::Json::array();
  for (const auto& p : plots) rel.push_back(fs::relative(p, r.run_dir).string());
  j["plots"] = rel;
  io::write_file_atomic(r.run_dir + "/eval.json", j.dump(2) + "\n");
  if (!plots.empty()) std::cout << "plots: " << r.run_dir << "/plots (" << plots.size() << " files)\n";
  std::cout << "summary: " << r.run_dir << "/eval.json" << std::endl;
  return 0;
}

// Reads the command line into opt; returns -1 to go on, else the exit code.
int parse_options(int argc, char** argv, Options& opt) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "eval_app: " << a << " needs a value\n" << kUsage;
        std::exit(2);
      }
      return argv[++i];
    };
    auto integer = [&](const std::string& v, int64_t lo, int64_t hi) -> int64_t {
      int64_t x = 0;
      std::string error;
      if (app::parse_int(v, lo, hi, &x, &error)) return x;
      std::cerr << "eval_app: " << a << " expects " << error << "\n";
      std::exit(2);
    };
    if (app::is_help_flag(a)) {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--config")
      opt.config_path = value();
    else if (a == "--set")
      opt.sets.push_back(value());
    else if (a == "--data")
      opt.data_dir = value();
    else if (a == "--device")
      opt.device = value();
    else if (a == "--bins")
      opt.bins = int(integer(value(), 1, 100000));
    else if (a == "--out")
      opt.out_path = value();
    else if (a == "--seed")
      opt.seed = uint64_t(integer(value(), 0, INT64_MAX));
    else if (a == "--no-plots")
      opt.plots = false;
    else if (a == "--layers")
      opt.layers = true;
    else if (a == "--allow-non-finite")
      opt.allow_non_finite = true;
    else if (a == "--tta-hflip")
      opt.tta_hflip = true;
    else if (a == "--corruptions")
      opt.corruptions = true;
    else if (a == "--corruption-images")
      opt.corruption_images = integer(value(), 1, INT64_MAX);
    else if (a == "--records") {
      std::string v = value();
      size_t colon = v.find(':');
      if (colon == std::string::npos) {
        std::cerr << "eval_app: --records expects A:B (test records A to B-1), got '" << v << "'\n";
        return 2;
      }
      opt.records_begin = integer(v.substr(0, colon), 0, INT64_MAX);
      opt.records_end = integer(v.substr(colon + 1), 1, INT64_MAX);
      if (opt.records_begin < 0 || opt.records_end <= opt.records_begin) {
        std::cerr << "eval_app: --records " << v << ": expected 0 <= A < B\n";
        return 2;
      }
    } else if (!a.empty() && a[0] != '-' && opt.target.empty())
      opt.target = a;
    else {
      std::cerr << "eval_app: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (opt.target.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (int rc = parse_options(argc, argv, opt); rc >= 0) return rc;
  return app::run_guarded("eval_app", [&] { return run(opt); });
}
