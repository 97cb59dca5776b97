#include "apps/common/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "data/loader.h"
#include "data/registry.h"
#include "engine/core/generator.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "engine/autograd/autocast.h"
#include "engine/optim/grad_scaler.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "engine/runtime/backend.h"
#include "engine/runtime/cuda_graph.h"
#include "metrics/model_stats.h"
#include "metrics/tfevents.h"
#include "apps/common/moe_tracker.h"
#include "models/registry.h"

namespace fs = std::filesystem;

namespace engine::app {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

struct MetricsRow {
  int64_t epoch;
  double lr, train_loss, train_acc, test_loss, test_acc, test_nll, test_ece, img_per_s, wall_s, val_acc, val_nll;
  // Mixture-of-experts columns, present when moe.placement is not empty (MoeTracker).
  std::vector<double> moe;
  // Loss-scaling columns (kAmpColumns), present with training.precision = "f16".
  std::vector<double> amp;
};

// Cumulative skipped steps (inf/NaN gradients) and the loss scale at the end of the epoch.
const std::vector<std::string> kAmpColumns = {"skipped_steps", "loss_scale"};

// val_* are empty when no validation split is held out (data.val_size = 0).
const char* kMetricsHeader =
    "epoch,lr,train_loss,train_acc,test_loss,test_acc,test_nll,test_ece,img_per_s,wall_s,val_acc,val_nll";
constexpr size_t kMetricsColumns = 12;

std::string csv_number(double v) {
  if (std::isnan(v)) return "";
  std::ostringstream o;
  o << std::setprecision(6) << v;
  return o.str();
}

std::string metrics_csv(const std::vector<MetricsRow>& rows, bool moe, bool amp) {
  std::ostringstream o;
  o << kMetricsHeader;
  if (moe)
    for (const std::string& c : MoeTracker::metric_columns()) o << "," << c;
  if (amp)
    for (const std::string& c : kAmpColumns) o << "," << c;
  o << "\n" << std::setprecision(6);
  for (const auto& r : rows) {
    o << r.epoch << "," << r.lr << "," << r.train_loss << "," << r.train_acc << "," << r.test_loss << ","
      << r.test_acc << "," << r.test_nll << "," << r.test_ece << "," << r.img_per_s << "," << r.wall_s << ","
      << csv_number(r.val_acc) << "," << csv_number(r.val_nll);
    if (moe)
      for (size_t i = 0; i < MoeTracker::metric_columns().size(); ++i)
        o << "," << csv_number(i < r.moe.size() ? r.moe[i] : NAN);
    if (amp)
      for (size_t i = 0; i < kAmpColumns.size(); ++i) o << "," << csv_number(i < r.amp.size() ? r.amp[i] : NAN);
    o << "\n";
  }
  return o.str();
}

std::vector<MetricsRow> read_metrics(const std::string& path, int64_t up_to_epoch) {
  std::vector<MetricsRow> rows;
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  // Columns past the fixed ones are MoE columns, then the loss-scaling ones.
  std::vector<bool> is_amp;
  {
    std::stringstream s(line);
    for (std::string cell; std::getline(s, cell, ',');)
      is_amp.push_back(std::find(kAmpColumns.begin(), kAmpColumns.end(), cell) != kAmpColumns.end());
  }
  while (std::getline(f, line)) {
    std::vector<double> v;
    std::stringstream s(line);
    for (std::string cell; std::getline(s, cell, ',');) v.push_back(cell.empty() ? NAN : std::stod(cell));
    if (v.size() < kMetricsColumns) v.resize(kMetricsColumns, NAN);
    MetricsRow r{int64_t(v[0]), v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], {}, {}};
    for (size_t i = kMetricsColumns; i < v.size(); ++i) (i < is_amp.size() && is_amp[i] ? r.amp : r.moe).push_back(v[i]);
    if (r.epoch <= up_to_epoch) rows.push_back(r);
  }
  return rows;
}

// A terminal progress bar, or plain lines when the output is not a terminal.
class Progress {
 public:
  Progress(std::ostream& out, bool bar, int64_t log_every) : out_(out), bar_(bar), every_(log_every) {}
  void update(int64_t epoch, int64_t epochs, int64_t step, int64_t steps, double loss, double acc, double ips,
              double eta) {
    if (!bar_ && step % every_ != 0 && step != steps) return;
    std::ostringstream o;  // formatted apart, so the caller's stream keeps its settings
    o << std::fixed;
    if (bar_) {
      int width = 24, filled = int(double(width) * double(step) / double(std::max<int64_t>(steps, 1)));
      o << "\r epoch " << epoch + 1 << "/" << epochs << " [" << std::string(size_t(filled), '#')
        << std::string(size_t(width - filled), '.') << "] " << step << "/" << steps << std::setprecision(4)
        << " loss " << loss << " acc " << std::setprecision(3) << acc << std::setprecision(0) << " " << ips
        << " img/s ETA " << eta << "s   ";
      out_ << o.str() << std::flush;
    } else {
      o << "epoch " << epoch + 1 << "/" << epochs << " step " << step << "/" << steps << std::setprecision(4)
        << " loss " << loss << " acc " << std::setprecision(3) << acc << std::setprecision(0) << " img/s " << ips
        << " eta " << eta << "s";
      out_ << o.str() << std::endl;
    }
  }
  void end_epoch() {
    if (bar_) out_ << "\n";
  }

 private:
  std::ostream& out_;
  bool bar_;
  int64_t every_;
};

std::map<std::string, std::string> checkpoint_meta(int64_t epoch, int64_t step, double best, const TrainConfig& c) {
  const Generator& g = default_generator();
  return {{"epoch", std::to_string(epoch)},
          {"step", std::to_string(step)},
          {"best_test_acc", std::to_string(best)},
          {"rng_seed", std::to_string(g.seed())},
          {"rng_offset", std::to_string(g.offset())},
          {"arch", c.model.arch},
          {"format", "pytorch state_dict names"}};
}

}  // namespace

Device resolve_device(const std::string& name) {
  if (name == "auto") return runtime::cuda_available() ? Device::cuda(0) : Device::cpu();
  Device d = Device::parse(name);
  if (d.is_cuda())
    ENGINE_CHECK(runtime::cuda_available() && d.index < runtime::cuda_device_count(),
                 "device \"" << name << "\" requested but CUDA is unavailable: " << runtime::cuda_unavailable_reason()
                             << " (use \"device\": \"cpu\" or \"auto\")");
  return d;
}

Datasets load_datasets(const TrainConfig& c) {
  data::DatasetSpec spec;
  spec.name = c.data.dataset;
  spec.path = c.data.path;
  spec.cifar100_labels = c.data.cifar100_labels;
  data::TrainTestSets sets = data::load_dataset(spec);
  Datasets d;
  d.train = std::move(sets.train);
  d.test = std::move(sets.test);
  if (c.data.train_limit > 0 && c.data.train_limit < d.train.size())
    d.train = data::subset(d.train, 0, c.data.train_limit);
  if (c.data.test_limit > 0 && c.data.test_limit < d.test.size()) d.test = data::subset(d.test, 0, c.data.test_limit);
  if (c.data.val_size > 0) {
    ENGINE_CONFIG_CHECK(c.data.val_size < d.train.size(), "config key 'data.val_size' = "
                                                               << c.data.val_size << " leaves no training images (the "
                                                               << "training set has " << d.train.size() << ")");
    auto split = data::train_val_split(d.train, c.data.val_size, c.seed);
    d.train = std::move(split.first);
    d.val = std::move(split.second);
  }
  return d;
}

Tensor model_input(const Tensor& images, const TrainConfig& c) {
  return c.model.channels_last ? images.contiguous(MemoryFormat::ChannelsLast) : images;
}

std::shared_ptr<nn::Module> build_model(const TrainConfig& c, const data::Dataset& train) {
  models::ModelSpec spec;
  spec.resnet.in_channels = train.channels();
  spec.resnet.num_classes = train.num_classes;
  spec.resnet.width_mult = c.model.width_mult;
  spec.resnet.zero_init_residual = c.model.zero_init_residual;
  spec.resnet.channels_last = c.model.channels_last;
  spec.resnet.checkpoint_stages = c.model.checkpoint_stages;
  if (c.moe.enabled()) {
    spec.placement = c.moe.placement;
    spec.hidden_mult = c.moe.hidden_mult;
    spec.moe = moe_options(c.moe);
  }
  // The registry name: model.arch, with "_moe" when moe.placement is not empty.
  return models::build_model(c.moe.enabled() ? c.model.arch + "_moe" : c.model.arch, spec);
}

metrics::ClassificationStats evaluate(nn::Module& model, const data::Dataset& d, const TrainConfig& c, Device device,
                                      int bins, Tensor* probs_out) {
  NoGradGuard ng;
  bool was_training = model.is_training();
  model.eval();
  data::LoaderOptions lo;
  lo.batch_size = c.training.eval_batch_size;
  lo.shuffle = false;
  lo.normalization = data::dataset_normalization(c.data.dataset);
  lo.prefetch = c.data.prefetch;
  lo.device = device;
  std::unique_ptr<data::BatchSource> loader;
  if (c.data.gpu_resident) {
    loader = std::make_unique<data::DeviceResidentLoader>(d, lo);
  } else {
    loader = std::make_unique<data::Loader>(d, lo);
  }
  metrics::ClassificationStats stats(bins);
  std::vector<Tensor> all;
  data::Batch b;
  while (loader->next(b)) {
    Tensor logits = model(Variable(model_input(b.images.to(device), c))).data();
    Tensor p = ops::softmax(logits, 1).to(Device::cpu()).to(DType::f32).contiguous();
    Tensor labels = b.labels.to(Device::cpu());
    stats.add(p.data<float>(), labels.data<int64_t>(), b.size(), p.size(1));
    if (probs_out) all.push_back(p);
  }
  if (probs_out) *probs_out = ops::concat(all, 0);
  model.train(was_training);
  return stats;
}

TrainResult run_training(const TrainConfig& config_in, const std::string& resume_dir, std::ostream& out,
                         int64_t stop_after_epochs) {
  TrainConfig c = config_in;
  Device device = resolve_device(c.device);
  Datasets ds = load_datasets(c);
  manual_seed(c.seed);
  std::shared_ptr<nn::Module> model = build_model(c, ds.train);
  model->to(device);
  MoeTracker moe(*model);

  data::LoaderOptions lo;
  lo.batch_size = c.training.batch_size;
  lo.shuffle = true;
  lo.seed = c.seed;
  lo.drop_last = ds.train.size() >= 2 * c.training.batch_size;  // BN needs more than one sample
  if (c.training.cuda_graph) {
    ENGINE_CONFIG_CHECK(device.is_cuda(), "training.cuda_graph needs a CUDA device; the run's device is " << device.str());
    ENGINE_CONFIG_CHECK(!moe.active(), "training.cuda_graph: the MoE layers read their routing on the host every "
                                       "step, which a CUDA graph cannot hold; set it false for MoE models");
    ENGINE_CONFIG_CHECK(c.training.precision != "f16", "training.cuda_graph with training.precision f16: the loss "
                                                       "scale would be a constant of the graph; use bf16 or f32");
    lo.drop_last = true;  // the graph's shapes are static
  }
  lo.augment.crop_padding = c.data.crop_padding;
  lo.augment.horizontal_flip = c.data.hflip;
  lo.augment.cutout_size = c.data.cutout;
  lo.normalization = data::dataset_normalization(c.data.dataset);
  lo.prefetch = c.data.prefetch;
  // On CUDA the host loader stages batches in pinned memory and copies them ahead.
  lo.device = device;
  // The prefetch thread's copies record events on the compute stream, which must not
  // happen while the main thread captures the step: a graph run assembles batches on
  // the main thread (a gpu_resident run has no host loader at all).
  if (c.training.cuda_graph) lo.prefetch = false;
  std::unique_ptr<data::BatchSource> loader;
  if (c.data.gpu_resident) {
    loader = std::make_unique<data::DeviceResidentLoader>(ds.train, lo);
  } else {
    loader = std::make_unique<data::Loader>(ds.train, lo);
  }
  int64_t steps_per_epoch = loader->size();
  ENGINE_CHECK(steps_per_epoch > 0, "the training set (" << ds.train.size() << " images) gives no batch of "
                                                          << c.training.batch_size);
  int64_t total_steps = c.training.epochs * steps_per_epoch;
  if (c.training.max_steps > 0) total_steps = std::min(total_steps, c.training.max_steps);

  auto entries = optim::make_param_entries(model->named_parameters(), c.training.weight_decay,
                                           c.training.no_decay_bn_bias);
  std::unique_ptr<optim::Optimizer> opt;
  if (c.training.optimizer == "sgd") {
    opt = std::make_unique<optim::SGD>(entries, optim::SgdOptions{c.training.lr, c.training.momentum, 0.0,
                                                                  c.training.nesterov});
  } else {
    opt = std::make_unique<optim::AdamW>(entries, optim::AdamWOptions{c.training.lr, c.training.adam_beta1,
                                                                      c.training.adam_beta2, 1e-8});
  }
  // f16 training scales the loss (bf16 has f32's range and needs none).
  optim::GradScalerOptions gso;
  gso.enabled = c.training.precision == "f16";
  gso.init_scale = c.training.loss_scale_init;
  gso.growth_factor = c.training.loss_scale_growth_factor;
  gso.backoff_factor = c.training.loss_scale_backoff_factor;
  gso.growth_interval = c.training.loss_scale_growth_interval;
  optim::GradScaler scaler(gso);
  const DType compute_dtype = dtype_from_name(c.training.precision);
  optim::ScheduleOptions so;
  so.kind = c.training.schedule;
  so.base_lr = c.training.lr;
  so.total_steps = total_steps;
  so.warmup_steps = std::min<int64_t>(total_steps, int64_t(std::llround(c.training.warmup_epochs * double(steps_per_epoch))));
  for (int64_t m : c.training.milestones) so.milestones.push_back(m * steps_per_epoch);
  so.gamma = c.training.gamma;
  optim::validate_schedule(so);

  // The run directory is created only now that the config, data and model are good.
  std::string run_dir = resume_dir;
  if (run_dir.empty()) {
    std::string base = c.output.dir + "/" + c.data.dataset + "/" + (c.name.empty() ? c.model.arch : c.name) + "-" +
                       timestamp();
    run_dir = base;
    for (int i = 1; fs::exists(run_dir); ++i) run_dir = base + "-" + std::to_string(i);
  }
  fs::create_directories(run_dir + "/checkpoints");
  io::write_file_atomic(run_dir + "/config.json", c.json.dump(2) + "\n");
  std::ofstream log(run_dir + "/train.log", std::ios::app);
  metrics::EventWriter events(run_dir);
  auto say = [&](const std::string& s) {
    out << s << std::endl;
    log << s << std::endl;
  };

  int64_t start_epoch = 0, step = 0;
  double best_acc = -1;
  std::vector<MetricsRow> rows;
  std::string ckpt = run_dir + "/checkpoints/last.safetensors", ckpt_opt = run_dir + "/checkpoints/last_optim.safetensors";
  if (!resume_dir.empty()) {
    io::SafetensorsData m = io::load_safetensors(ckpt), o = io::load_safetensors(ckpt_opt);
    ENGINE_CHECK(m.metadata["step"] == o.metadata["step"],
                 "resume: " << ckpt << " (step " << m.metadata["step"] << ") and " << ckpt_opt << " (step "
                            << o.metadata["step"] << ") do not belong together");
    std::vector<std::pair<std::string, Tensor>> state;
    for (const auto& n : m.order) state.emplace_back(n, m.tensors.at(n));
    model->load_state_dict(state);
    std::vector<std::pair<std::string, Tensor>> ostate;
    for (const auto& n : o.order) ostate.emplace_back(n, o.tensors.at(n));
    step = std::stoll(m.metadata["step"]);
    scaler.load_state_dict(ostate);  // takes its entries out of ostate
    opt->load_state_dict(ostate, step);
    opt->to(device);
    start_epoch = std::stoll(m.metadata["epoch"]);
    best_acc = std::stod(m.metadata["best_test_acc"]);
    default_generator().set_state(std::stoull(m.metadata["rng_seed"]), std::stoull(m.metadata["rng_offset"]));
    rows = read_metrics(run_dir + "/metrics.csv", start_epoch);
    say("resuming " + run_dir + " at epoch " + std::to_string(start_epoch) + ", step " + std::to_string(step));
  }

  {
    std::ostringstream o;
    o << "run " << run_dir << "\n  device " << device.str() << ", dataset " << c.data.dataset << " (" << ds.train.size()
      << " train, " << ds.test.size() << " test), model " << c.model.arch << " x" << c.model.width_mult << " ("
      << model->num_parameters() << " parameters), " << steps_per_epoch << " steps/epoch, " << total_steps
      << " steps";
    if (moe.active()) o << "\n" << moe.summary(model->num_parameters());
    // Parameters and FLOPs per layer (one forward pass of one image, eval mode): the
    // totals are printed, the table is kept in the run directory.
    metrics::ModelStats ms =
        metrics::model_stats(*model, {ds.train.channels(), ds.train.height(), ds.train.width()}, device);
    o << "\n  parameters " << ms.total_params << " (active per token " << ms.active_params << "), "
      << metrics::human_count(double(ms.flops())) << " FLOPs per image (2 x multiply-adds; per layer in model_stats.csv)";
    io::write_file_atomic(run_dir + "/model_stats.csv", metrics::model_stats_csv(ms));
    say(o.str());
  }

  bool bar = c.output.progress == "bar" || (c.output.progress == "auto" && isatty(STDOUT_FILENO));
  Progress progress(out, bar, c.output.log_every);
  auto run_start = Clock::now();
  double wall_before = rows.empty() ? 0.0 : rows.back().wall_s;
  TrainResult result;
  result.run_dir = run_dir;
  int64_t end_epoch = c.training.epochs;
  if (stop_after_epochs > 0) end_epoch = std::min(end_epoch, start_epoch + stop_after_epochs);
  // The host reads the steps' losses and accuracies in groups: on CUDA every log_every
  // steps (and at the end of an epoch), so that the device never waits for the host in
  // between; on the CPU, where nothing runs ahead, after every step. MoE statistics are
  // read every step either way. A non-finite loss is found at that read, named by its
  // step; checkpoints are written only after the epoch's last read, so the one on disk
  // is always from before it.
  const int64_t read_every = device.is_cuda() ? std::max<int64_t>(1, c.output.log_every) : 1;
  struct PendingStep {
    int64_t step, images;
    double aux;
    Tensor loss, correct;  // device scalars
  };
  std::vector<PendingStep> pending;
  // CUDA graph (training.cuda_graph): after one eager step, forward + backward are
  // captured on static input buffers and replayed; the optimizer step, its learning rate
  // and clipping stay outside the graph.
  std::unique_ptr<runtime::CudaGraph> graph;
  Tensor graph_x, graph_y, graph_loss, graph_logits;
  bool warmed_up = false;
  auto capture_step = [&](const Tensor& x, const Tensor& y) {
    graph_x = x.clone();
    graph_y = y.clone();
    opt->zero_grad();  // the captured backward writes the gradients that every replay overwrites
    graph = std::make_unique<runtime::CudaGraph>(device.index);
    graph->capture([&] {
      Variable lg, l;
      {
        AutocastGuard autocast(compute_dtype);
        lg = (*model)(Variable(graph_x));
        l = ag::cross_entropy(lg, graph_y, c.training.label_smoothing);
      }
      l.backward();
      graph_loss = l.data();
      graph_logits = lg.data();
    });
    say("  captured the training step as a CUDA graph after step " + std::to_string(step));
  };
  for (int64_t epoch = start_epoch; epoch < end_epoch && step < total_steps; ++epoch) {
    loader->set_epoch(epoch);
    model->train();
    auto t0 = Clock::now();
    double loss_sum = 0, correct = 0;
    int64_t seen = 0, epoch_steps = 0;
    double lr = 0;
    moe.start_epoch();
    data::Batch b;
    auto read_pending = [&]() {
      if (pending.empty()) return;
      std::vector<Tensor> ls, cs;
      for (const PendingStep& p : pending) {
        ls.push_back(p.loss.to(DType::f32).reshape({1}));
        cs.push_back(p.correct.reshape({1}));
      }
      std::vector<double> lv = ops::concat(ls, 0).to(Device::cpu()).to_vector();
      std::vector<double> cv = ops::concat(cs, 0).to(Device::cpu()).to_vector();
      for (size_t i = 0; i < pending.size(); ++i) {
        const PendingStep& p = pending[i];
        if (!std::isfinite(lv[i] + p.aux)) {
          ENGINE_THROW("training stopped: the loss is " << lv[i] + p.aux << " at step " << p.step << " (epoch "
                                                        << epoch + 1 << "); the last good checkpoint is "
                                                        << (fs::exists(ckpt) ? ckpt : std::string("(none yet)"))
                                                        << ". Try a lower training.lr or training.grad_clip > 0");
        }
        loss_sum += lv[i] * double(p.images);
        correct += cv[i];
        seen += p.images;
      }
      pending.clear();
      double el = seconds_since(t0);
      double ips = double(seen) / std::max(el, 1e-9);
      int64_t left_in_epoch = std::min(steps_per_epoch - epoch_steps, total_steps - step);
      progress.update(epoch, c.training.epochs, epoch_steps, std::min(steps_per_epoch, epoch_steps + left_in_epoch),
                      loss_sum / double(seen), correct / double(seen), ips,
                      el / double(epoch_steps) * double(left_in_epoch));
    };
    while (step < total_steps && loader->next(b)) {
      lr = optim::learning_rate(so, step);
      opt->set_lr(lr);
      Tensor x = model_input(b.images.to(device), c), y = b.labels.to(device);
      moe.set_labels(b.labels, ds.train.num_classes);
      if (c.training.cuda_graph && warmed_up && !graph) capture_step(x, y);
      Tensor loss_value, logits_value;
      double aux = 0;
      if (graph) {
        graph_x.copy_from(x);
        graph_y.copy_from(y);
        graph->replay();
        loss_value = graph_loss.clone();  // the next replay overwrites graph_loss
        logits_value = graph_logits;
      } else {
        Variable logits, loss;
        {
          // Forward and loss under autocast (off for f32); backward follows the recorded dtypes.
          AutocastGuard autocast(compute_dtype);
          logits = (*model)(Variable(x));
          loss = ag::cross_entropy(logits, y, c.training.label_smoothing);
        }
        loss_value = loss.data();
        if (moe.active()) {
          // The MoE layers' weighted aux losses join the task loss; train_loss stays the task loss.
          Variable a = moe.aux_loss();
          aux = a.item();
          loss = ag::add(loss, a);
        }
        opt->zero_grad();
        scaler.scale(loss).backward();
        logits_value = logits.data();
      }
      if (c.training.grad_clip > 0) {
        scaler.unscale(*opt);  // clip the true gradients (a no-op without loss scaling)
        optim::clip_grad_norm(model->parameters(), c.training.grad_clip);
      }
      scaler.step(*opt);  // skipped when a gradient is inf/NaN
      if (moe.active()) moe.record_step(aux);
      // Correct predictions counted on the device (argmax ties: the first class).
      Tensor hits = ops::compare(kernels::CompareOp::Eq, ops::argmax(logits_value, 1).to(DType::f32), y.to(DType::f32));
      pending.push_back({step, b.size(), aux, loss_value, ops::sum(hits.to(DType::f32))});
      ++step;
      ++epoch_steps;
      warmed_up = true;
      if (int64_t(pending.size()) >= read_every) read_pending();
    }
    read_pending();
    progress.end_epoch();
    moe.clear_labels();
    double train_time = seconds_since(t0);
    metrics::ClassificationStats ts = evaluate(*model, ds.test, c, device);
    double val_acc = NAN, val_nll = NAN;
    if (ds.val.size() > 0) {
      metrics::ClassificationStats vs = evaluate(*model, ds.val, c, device);
      val_acc = vs.accuracy();
      val_nll = vs.nll();
    }
    MetricsRow r{epoch + 1,
                 lr,
                 loss_sum / double(std::max<int64_t>(seen, 1)),
                 correct / double(std::max<int64_t>(seen, 1)),
                 ts.nll(),
                 ts.accuracy(),
                 ts.nll(),
                 ts.ece(),
                 double(seen) / std::max(train_time, 1e-9),
                 wall_before + seconds_since(run_start),
                 val_acc,
                 val_nll,
                 moe.active() ? moe.epoch_metrics() : std::vector<double>{},
                 scaler.enabled() ? std::vector<double>{double(scaler.skipped_steps()), scaler.get_scale()}
                                  : std::vector<double>{}};
    rows.push_back(r);
    for (const auto& [tag, v] : std::vector<std::pair<const char*, double>>{{"lr", r.lr},
                                                                          {"train/loss", r.train_loss},
                                                                          {"train/acc", r.train_acc},
                                                                          {"test/loss", r.test_loss},
                                                                          {"test/acc", r.test_acc},
                                                                          {"test/nll", r.test_nll},
                                                                          {"test/ece", r.test_ece},
                                                                          {"val/acc", r.val_acc},
                                                                          {"val/nll", r.val_nll},
                                                                          {"perf/img_per_s", r.img_per_s}})
      if (!std::isnan(v)) events.add_scalar(tag, v, r.epoch);
    for (size_t i = 0; i < r.moe.size(); ++i) {
      const std::string& col = MoeTracker::metric_columns()[i];
      events.add_scalar("moe/" + col.substr(4), r.moe[i], r.epoch);
    }
    events.flush();
    std::ostringstream o;
    o << std::fixed << std::setprecision(4) << "epoch " << r.epoch << ": train loss " << r.train_loss << " acc "
      << r.train_acc << " | test loss " << r.test_loss << " acc " << r.test_acc << " ece " << r.test_ece
      << (std::isnan(r.val_acc) ? std::string() : " | val acc " + csv_number(r.val_acc))
      << std::setprecision(1) << " | " << r.img_per_s << " img/s, " << r.wall_s << " s";
    if (moe.active())
      o << std::setprecision(4) << "\n  moe: aux " << r.moe[0] << " balance " << r.moe[1] << " max expert frac "
        << r.moe[3] << " utilisation " << r.moe[4] << " dropped " << r.moe[5] << " gate entropy " << r.moe[6];
    if (scaler.enabled())
      o << std::setprecision(0) << "\n  f16: loss scale " << scaler.get_scale() << ", skipped steps "
        << scaler.skipped_steps();
    say(o.str());
    moe.write_epoch_files(run_dir, r.epoch);
    // Optimizer state first, then the model: resume checks that both carry one step.
    io::NamedTensors ost = opt->state_dict();
    if (scaler.enabled())
      for (auto& e : scaler.state_dict()) ost.push_back(e);
    auto meta = checkpoint_meta(epoch + 1, step, std::max(best_acc, r.test_acc), c);
    io::save_safetensors(ckpt_opt, ost, meta);
    io::save_safetensors(ckpt, model->state_dict(), meta);
    if (r.test_acc > best_acc) {
      best_acc = r.test_acc;
      io::save_safetensors(run_dir + "/checkpoints/best.safetensors", model->state_dict(), meta);
    }
    io::write_file_atomic(run_dir + "/metrics.csv", metrics_csv(rows, moe.active(), scaler.enabled()));
    result.epochs_done = epoch + 1;
    result.test_accuracy = r.test_acc;
    result.test_nll = r.test_nll;
    result.test_ece = r.test_ece;
  }
  result.steps = step;
  if (result.epochs_done == 0 && !rows.empty()) {
    result.epochs_done = rows.back().epoch;
    result.test_accuracy = rows.back().test_acc;
    result.test_nll = rows.back().test_nll;
    result.test_ece = rows.back().test_ece;
  }
  return result;
}

}  // namespace engine::app
