#include "apps/common/trainer.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <sstream>

#include "apps/common/evaluation.h"
#include "apps/common/model_card.h"
#include "apps/common/moe_tracker.h"
#include "apps/common/multimodal_setup.h"
#include "engine/autograd/autocast.h"
#include "engine/backends/cuda/graph.h"
#include "engine/core/backend.h"
#include "engine/core/generator.h"
#include "engine/dist/nccl_communicator.h"
#include "metrics/model_stats.h"
#include "metrics/plot/charts.h"
#include "metrics/tfevents.h"

namespace engine::app {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

optim::GradScalerOptions scaler_options(const TrainConfig& c) {
  // f16 training scales the loss (bf16 has f32's range and needs none).
  optim::GradScalerOptions o;
  o.enabled = c.training.precision == "f16";
  o.init_scale = c.training.loss_scale_init;
  o.growth_factor = c.training.loss_scale_growth_factor;
  o.backoff_factor = c.training.loss_scale_backoff_factor;
  o.growth_interval = c.training.loss_scale_growth_interval;
  return o;
}

void check_cuda_graph_config(const TrainConfig& c, Device device, const MoeTracker& moe) {
  ENGINE_CONFIG_CHECK(device.is_cuda(),
                      "training.cuda_graph needs a CUDA device; the run's device is " << device.str());
  ENGINE_CONFIG_CHECK(!moe.active(),
                      "training.cuda_graph: the MoE layers read their routing on the host every "
                      "step, which a CUDA graph cannot hold; set it false for MoE models");
  ENGINE_CONFIG_CHECK(c.training.precision != "f16",
                      "training.cuda_graph with training.precision f16: the loss "
                      "scale would be a constant of the graph; use bf16 or f32");
}

// The MoE tables an epoch publishes with its checkpoint (none for a dense model).
EpochFiles moe_epoch_files(const MoeTracker& moe, int64_t epoch) {
  EpochFiles f;
  if (!moe.active()) return f;
  f.own.push_back({"moe_expert_class_epoch" + std::to_string(epoch) + ".csv", moe.expert_class_csv()});
  f.rows.push_back({"moe_layers.csv", MoeTracker::layers_csv_header(), moe.layers_csv_rows(epoch)});
  return f;
}

// The run's device on this rank. Several ranks on one machine share its GPUs: "auto" and
// "cuda" (no index) put local rank r on cuda:(r mod devices); "cuda:N" is taken as written.
Device rank_device(const std::string& name, const dist::Communicator& comm) {
  Device d = resolve_device(name);
  if (comm.size() > 1 && d.is_cuda() && (name == "auto" || name == "cuda"))
    d.index = dist::local_rank() % std::max(1, runtime::cuda_device_count());
  return d;
}

// Where ranks other than 0 print: nowhere.
std::ostream& null_stream() {
  static std::ostream none(nullptr);
  return none;
}

// Correct predictions counted on the device (argmax ties: the first class).
Tensor count_correct(const Tensor& logits, const Tensor& y) {
  Tensor hits = ops::compare(kernels::CompareOp::Eq, ops::argmax(logits, 1).to(DType::f32), y.to(DType::f32));
  return ops::sum(hits.to(DType::f32));
}

}  // namespace

Trainer::Trainer(const TrainConfig& config, const std::string& resume_dir, std::ostream& out)
    : config_(config), comm_(dist::world()), device_(rank_device(config.device, comm_)), data_(load_datasets(config_)) {
  manual_seed(config_.seed);
  model_ = build_model(config_, data_.train);
  model_->to(device_);
  prepare_multimodal(*model_, config_, data_, /*encode_text=*/resume_dir.empty(), out);
  moe_ = std::make_unique<MoeTracker>(*model_);
  // On CUDA devices gradients travel over NCCL when the build has it (else through
  // host memory over MPI).
  if (comm_.size() > 1 && device_.is_cuda() && dist::nccl_available()) nccl_ = dist::make_nccl(comm_, device_.index);
  dp_ = std::make_unique<DataParallel>(config_, nccl_ ? *nccl_ : comm_, *model_);
  ENGINE_CONFIG_CHECK(dp_->local_shards() == 1 || !moe_->active(),
                      "config key 'dist.ghost_batchnorm' is for dense models; this one has MoE layers");
  ENGINE_CONFIG_CHECK(!dp_->active() || !config_.training.cuda_graph,
                      "training.cuda_graph captures one whole step; with several ranks or dist.ghost_batchnorm "
                      "set it false");
  check_expert_parallel_config();
  build_loader();
  build_optimizer();
  // Rank 0 alone prints and writes the run directory (the others only read a resumed
  // run's checkpoint). It is created only now that the config, data and model are good;
  // a resumed run's is written to only after its checkpoint has loaded.
  std::ostream& say_to = comm_.rank() == 0 ? out : null_stream();
  run_ = std::make_unique<RunDirectory>(config_, resume_dir, say_to,
                                        comm_.rank() == 0 ? RunDirectory::Role::Writer : RunDirectory::Role::Reader);
  std::string path = run_->path();
  comm_.broadcast_string(path, 0);
  run_->set_path(path);
  run_->describe(model_card(config_, data_.train));
  if (!resume_dir.empty()) {
    RunDirectory::Position at = run_->resume(*model_, *opt_, *scaler_, device_);
    start_epoch_ = at.epoch;
    step_ = at.step;
    run_->say("resuming " + run_->path() + " at epoch " + std::to_string(start_epoch_) + ", step " +
              std::to_string(step_));
  }
  dp_->broadcast_model();
  print_summary();
  distribute_moe();
  const TrainConfig::Output& o = config_.output;
  bool bar = o.progress == "bar" || (o.progress == "auto" && isatty(STDOUT_FILENO));
  progress_ = std::make_unique<Progress>(say_to, bar, o.log_every);
  // The host reads the steps' losses and accuracies in groups: on CUDA every log_every
  // steps (and at the end of an epoch), so that the device never waits for the host in
  // between; on the CPU, where nothing runs ahead, after every step. MoE statistics are
  // read every step either way. A non-finite loss is found at that read, named by its
  // step; checkpoints are written only after the epoch's last read, so the one on disk
  // is always from before it.
  read_every_ = device_.is_cuda() ? std::max<int64_t>(1, o.log_every) : 1;
}

Trainer::~Trainer() = default;

void Trainer::build_loader() {
  const TrainConfig& c = config_;
  data::LoaderOptions lo;
  lo.batch_size = c.training.batch_size;
  lo.shuffle = true;
  lo.seed = c.seed;
  lo.drop_last = data_.train.size() >= 2 * c.training.batch_size;  // BN needs more than one sample
  if (dp_->active()) lo.drop_last = true;                          // every shard of every batch has the same rows
  if (c.training.cuda_graph) {
    check_cuda_graph_config(c, device_, *moe_);
    lo.drop_last = true;  // the graph's shapes are static
  }
  lo.augment.crop_padding = c.data.crop_padding;
  lo.augment.horizontal_flip = c.data.hflip;
  lo.augment.cutout_size = c.data.cutout;
  lo.normalization = data::dataset_normalization(c.data.dataset);
  lo.prefetch = c.data.prefetch;
  // On CUDA the host loader stages batches in pinned memory and copies them ahead.
  lo.device = device_;
  // The prefetch thread's copies record events on the compute stream, which must not
  // happen while the main thread captures the step: a graph run assembles batches on
  // the main thread (a gpu_resident run has no host loader at all).
  if (c.training.cuda_graph) lo.prefetch = false;
  if (c.data.gpu_resident) {
    loader_ = std::make_unique<data::DeviceResidentLoader>(data_.train, lo);
  } else {
    loader_ = std::make_unique<data::Loader>(data_.train, lo);
  }
  steps_per_epoch_ = loader_->size();
  ENGINE_CHECK(steps_per_epoch_ > 0,
               "the training set (" << data_.train.size() << " images) gives no batch of " << c.training.batch_size);
  total_steps_ = c.training.epochs * steps_per_epoch_;
  if (c.training.max_steps > 0) total_steps_ = std::min(total_steps_, c.training.max_steps);
}

void Trainer::build_optimizer() {
  const TrainConfig::Training& t = config_.training;
  auto entries = optim::make_param_entries(model_->named_parameters(), t.weight_decay, t.no_decay_bn_bias);
  if (t.optimizer == "sgd") {
    opt_ = std::make_unique<optim::SGD>(entries, optim::SgdOptions{t.lr, t.momentum, 0.0, t.nesterov});
  } else {
    opt_ = std::make_unique<optim::AdamW>(entries, optim::AdamWOptions{t.lr, t.adam_beta1, t.adam_beta2, 1e-8});
  }
  scaler_ = std::make_unique<optim::GradScaler>(scaler_options(config_));
  compute_dtype_ = dtype_from_name(t.precision);
  schedule_.kind = t.schedule;
  schedule_.base_lr = t.lr;
  schedule_.total_steps = total_steps_;
  schedule_.warmup_steps =
      std::min<int64_t>(total_steps_, int64_t(std::llround(t.warmup_epochs * double(steps_per_epoch_))));
  for (int64_t m : t.milestones) schedule_.milestones.push_back(m * steps_per_epoch_);
  schedule_.gamma = t.gamma;
  optim::validate_schedule(schedule_);
}

// Several ranks with MoE blocks: their training passes take the aux losses and
// statistics over every rank's tokens; with moe.expert_parallel each rank keeps its
// share of every block's experts (cut out of the whole model every rank holds after
// broadcast_model, with the optimizer state a resumed run loaded), and checkpoints
// gather them back, so that they are one process's whatever the number of ranks.
void Trainer::check_expert_parallel_config() const {
  const TrainConfig::Moe& m = config_.moe;
  if (comm_.size() == 1 || !moe_->active() || !m.expert_parallel) return;
  ENGINE_CONFIG_CHECK(m.num_experts % comm_.size() == 0,
                      "config key 'moe.expert_parallel' = true splits moe.num_experts = "
                          << m.num_experts << " experts over the " << comm_.size()
                          << " ranks: it must be a multiple of the number of ranks");
  ENGINE_CONFIG_CHECK(config_.training.grad_clip == 0,
                      "config key 'training.grad_clip' > 0 with moe.expert_parallel: the gradient norm would "
                      "need the experts of every rank (not built); set one of them off");
  ENGINE_CONFIG_CHECK(config_.training.precision != "f16",
                      "training.precision f16 with moe.expert_parallel: the loss scaler's skip decision would need "
                      "the experts of every rank (not built); use bf16 or f32");
}

void Trainer::distribute_moe() {
  if (comm_.size() == 1 || !moe_->active() || config_.multimodal_model()) return;
  const TrainConfig::Moe& m = config_.moe;
  dist::Communicator& comm = nccl_ ? *nccl_ : comm_;
  std::vector<std::string> local;
  for (auto& [name, layer] : nn::moe::find_moe_layers(*model_)) {
    layer->distribute(comm, m.expert_parallel);
    for (const std::string& p : layer->rank_local_parameters()) local.push_back(name + "." + p);
  }
  if (local.empty()) return;
  opt_->load_state_dict(slice_rank_local(comm, local, opt_->state_dict()), opt_->steps());
  dp_->set_rank_local(local);
  run_->set_state_gatherer(
      [&comm, local](io::NamedTensors state) { return gather_rank_local(comm, local, std::move(state)); });
}

void Trainer::print_summary() {
  const TrainConfig& c = config_;
  const data::Dataset& train = data_.train;
  std::ostringstream o;
  o << "run " << run_->path() << "\n  device " << device_.str();
  if (comm_.size() > 1)
    o << " x " << comm_.size() << " ranks (" << comm_.backend() << (nccl_ ? ", gradients over nccl" : "")
      << ", global batch " << c.training.batch_size << ")"
      << (dp_->overlaps() ? ", gradient sums overlap backward" : "")
      << (moe_->active() && c.moe.expert_parallel && !c.multimodal_model()
              ? ", experts split over the ranks (" + std::to_string(c.moe.num_experts / comm_.size()) +
                    " of each block's " + std::to_string(c.moe.num_experts) + " per rank)"
              : "");
  else if (dp_->local_shards() > 1)
    o << ", ghost batch norm over " << dp_->local_shards() << " shards of the batch";
  o << ", dataset " << c.data.dataset << " (" << train.size() << " train, " << data_.test.size() << " test), model "
    << c.model.arch << " x" << c.model.width_mult << " (" << model_->num_parameters() << " parameters), "
    << steps_per_epoch_ << " steps/epoch, " << total_steps_ << " steps";
  if (moe_->active()) o << "\n" << moe_->summary(model_->num_parameters());
  // Parameters and FLOPs per layer (one forward pass of one image, eval mode): the
  // totals are printed, the table is kept in the run directory.
  metrics::ModelStats ms = metrics::model_stats(*model_, {train.channels(), train.height(), train.width()}, device_);
  o << "\n  parameters " << ms.total_params << " (active per token " << ms.active_params << "), "
    << metrics::human_count(double(ms.flops())) << " FLOPs per image (2 x multiply-adds; per layer in model_stats.csv)";
  run_->write_file("model_stats.csv", metrics::model_stats_csv(ms));
  run_->say(o.str());
}

TrainResult Trainer::run(int64_t stop_after_epochs) {
  auto run_start = Clock::now();
  const std::vector<MetricsRow>& rows = run_->rows();
  double wall_before = rows.empty() ? 0.0 : rows.back().wall_s;
  TrainResult result;
  result.run_dir = run_->path();
  int64_t end_epoch = config_.training.epochs;
  if (stop_after_epochs > 0) end_epoch = std::min(end_epoch, start_epoch_ + stop_after_epochs);
  try {
    for (int64_t epoch = start_epoch_; epoch < end_epoch && step_ < total_steps_; ++epoch) {
      run_epoch(epoch);
      MetricsRow r = epoch_row(seconds_since(epoch_start_));
      r.wall_s = wall_before + seconds_since(run_start);
      run_->add_epoch(r);
      report_epoch(r);
      EpochFiles files = moe_epoch_files(*moe_, r.epoch);
      files.events = [&](metrics::EventFileBuilder& events) { add_epoch_images(events); };
      run_->save_epoch(step_, *model_, *opt_, *scaler_, moe_->active() ? moe_->columns() : std::vector<std::string>{},
                       files);
      start_epoch_ = r.epoch;
    }
  } catch (const std::exception& e) {
    const auto* engine_error = dynamic_cast<const Error*>(&e);
    try {
      run_->finish("failed", engine_error ? engine_error->message() : std::string(e.what()));
    } catch (const std::exception&) {
      // The original error is the one to report.
    }
    throw;
  }
  // A run stopped by stop_after_epochs is left as an interrupted one.
  if (start_epoch_ >= config_.training.epochs || step_ >= total_steps_) run_->finish("finished");
  result.steps = step_;
  if (!rows.empty()) {
    result.epochs_done = rows.back().epoch;
    result.test_accuracy = rows.back().test_acc;
    result.test_nll = rows.back().test_nll;
    result.test_ece = rows.back().test_ece;
  }
  return result;
}

void Trainer::run_epoch(int64_t epoch) {
  loader_->set_epoch(epoch);
  model_->train();
  epoch_start_ = Clock::now();
  tally_ = EpochTally{};
  tally_.epoch = epoch;
  moe_->start_epoch();
  data::Batch b;
  while (step_ < total_steps_ && loader_->next(b)) step(b);
  read_pending();
  progress_->end_epoch();
  moe_->clear_labels();
}

void Trainer::step(const data::Batch& b) {
  const TrainConfig& c = config_;
  fail_here_for_tests();
  tally_.lr = optim::learning_rate(schedule_, step_);
  opt_->set_lr(tally_.lr);
  StepTensors t;
  Tensor correct;
  int64_t local_rows = b.size();
  if (dp_->active()) {
    t = sharded_step(b, &correct, &local_rows);
  } else {
    Tensor x = model_input(b.images.to(device_), c), y = b.labels.to(device_);
    moe_->set_labels(b.labels, data_.train.num_classes);
    if (c.training.cuda_graph && warmed_up_ && !graph_) capture_graph(x, y);
    t = graph_ ? replay_graph(x, y) : forward_backward(x, y);
    correct = count_correct(t.logits, y);
  }
  if (c.training.grad_clip > 0) {
    scaler_->unscale(*opt_);  // clip the true gradients (a no-op without loss scaling)
    optim::clip_grad_norm(model_->parameters(), c.training.grad_clip);
  }
  scaler_->step(*opt_);  // skipped when a gradient is inf/NaN
  if (moe_->active()) moe_->record_step(t.aux);
  pending_.push_back({step_, b.size(), t.aux, t.loss, correct, local_rows});
  ++step_;
  ++tally_.steps;
  warmed_up_ = true;
  if (int64_t(pending_.size()) >= read_every_) read_pending();
}

Trainer::StepTensors Trainer::forward_backward(const Tensor& x, const Tensor& y) {
  StepTensors t;
  Variable logits, loss;
  {
    // Forward and loss under autocast (off for f32); backward follows the recorded dtypes.
    AutocastGuard autocast(compute_dtype_);
    logits = (*model_)(Variable(x));
    loss = ag::cross_entropy(logits, y, config_.training.label_smoothing);
  }
  t.loss = loss.data();
  if (moe_->active()) {
    // The MoE layers' weighted aux losses join the task loss; train_loss stays the task loss.
    Variable a = moe_->aux_loss();
    t.aux = a.item();
    loss = ag::add(loss, a);
  }
  opt_->zero_grad();
  scaler_->scale(loss).backward();
  t.logits = logits.data();
  return t;
}

Trainer::StepTensors Trainer::sharded_step(const data::Batch& b, Tensor* correct, int64_t* local_rows) {
  const int64_t batch = b.size();
  StepTensors t;
  std::vector<std::pair<int64_t, int64_t>> rows;
  *local_rows = 0;
  for (int s = 0; s < dp_->local_shards(); ++s) {
    rows.push_back(dp_->shard_rows(batch, s));
    *local_rows += rows.back().second - rows.back().first;
  }
  dp_->begin_step();
  for (const auto& [lo, hi] : rows) {
    Tensor labels = b.labels.slice(0, lo, hi).contiguous();
    Tensor x = model_input(b.images.slice(0, lo, hi).contiguous().to(device_), config_), y = labels.to(device_);
    moe_->set_labels(labels, data_.train.num_classes);
    dp_->before_backward(hi - lo, batch);
    StepTensors st = forward_backward(x, y);
    dp_->end_shard(hi - lo, batch);
    double share = double(hi - lo) / double(*local_rows);
    Tensor loss = ops::mul(st.loss.to(DType::f32), share), hits = count_correct(st.logits, y);
    t.loss = t.loss.defined() ? ops::add(t.loss, loss) : loss;
    *correct = correct->defined() ? ops::add(*correct, hits) : hits;
    t.aux += st.aux * share;
  }
  dp_->finish_step();
  return t;
}

void Trainer::fail_here_for_tests() const {
  const char* spec = std::getenv("ENGINE_DIST_FAIL");
  if (!spec) return;
  int rank = -1;
  long long at = -1;
  char mode[16] = {0};
  std::string m;
  if (std::sscanf(spec, "%d:%lld:%15s", &rank, &at, mode) == 3) m = mode;
  ENGINE_CHECK(m == "raise" || m == "kill",
               "ENGINE_DIST_FAIL='" << spec << "': expected <rank>:<step>:raise or <rank>:<step>:kill");
  if (rank != comm_.rank() || at != step_) return;
  if (m == "kill") ::raise(SIGKILL);
  ENGINE_THROW("a failure planted by ENGINE_DIST_FAIL at step " << step_);
}

// CUDA graph (training.cuda_graph): after one eager step, forward_backward is captured
// on static input buffers and replayed; the optimizer step, its learning rate and
// clipping stay outside the graph. The configuration checks (check_cuda_graph_config)
// keep out what a graph cannot hold: MoE routing read on the host, a changing loss scale.
void Trainer::capture_graph(const Tensor& x, const Tensor& y) {
  graph_x_ = x.clone();
  graph_y_ = y.clone();
  opt_->zero_grad();  // the captured backward writes the gradients that every replay overwrites
  graph_ = std::make_unique<runtime::CudaGraph>(device_.index);
  graph_->capture([&] { graph_out_ = forward_backward(graph_x_, graph_y_); });
  run_->say("  captured the training step as a CUDA graph after step " + std::to_string(step_));
}

Trainer::StepTensors Trainer::replay_graph(const Tensor& x, const Tensor& y) {
  graph_x_.copy_from(x);
  graph_y_.copy_from(y);
  graph_->replay();
  StepTensors t;
  t.loss = graph_out_.loss.clone();  // the next replay overwrites graph_out_.loss
  t.logits = graph_out_.logits;
  return t;
}

void Trainer::read_pending() {
  if (pending_.empty()) return;
  std::vector<Tensor> ls, cs;
  for (const PendingStep& p : pending_) {
    ls.push_back(p.loss.to(DType::f32).reshape({1}));
    cs.push_back(p.correct.reshape({1}));
  }
  std::vector<double> lv = ops::concat(ls, 0).to(Device::cpu()).to_vector();
  std::vector<double> cv = ops::concat(cs, 0).to(Device::cpu()).to_vector();
  if (comm_.size() > 1) {
    // Global figures: the loss over every rank's rows and their hit count.
    std::vector<double> v;
    for (size_t i = 0; i < pending_.size(); ++i) {
      v.push_back(lv[i] * double(pending_[i].local_images));
      v.push_back(cv[i]);
    }
    Tensor sums = Tensor::from_data(v.data(), {int64_t(v.size())});
    comm_.all_reduce_sum(sums);
    v = sums.to_vector();
    for (size_t i = 0; i < pending_.size(); ++i) {
      lv[i] = v[2 * i] / double(pending_[i].images);
      cv[i] = v[2 * i + 1];
    }
  }
  EpochTally& e = tally_;
  for (size_t i = 0; i < pending_.size(); ++i) {
    const PendingStep& p = pending_[i];
    if (!std::isfinite(lv[i] + p.aux)) {
      ENGINE_THROW("training stopped: the loss is " << lv[i] + p.aux << " at step " << p.step << " (epoch "
                                                    << e.epoch + 1 << "); the last good checkpoint is "
                                                    << run_->last_checkpoint_or_none()
                                                    << ". Try a lower training.lr or training.grad_clip > 0");
    }
    e.loss_sum += lv[i] * double(p.images);
    e.correct += cv[i];
    e.seen += p.images;
  }
  pending_.clear();
  double el = seconds_since(epoch_start_);
  double ips = double(e.seen) / std::max(el, 1e-9);
  int64_t left_in_epoch = std::min(steps_per_epoch_ - e.steps, total_steps_ - step_);
  progress_->update(e.epoch, config_.training.epochs, e.steps, std::min(steps_per_epoch_, e.steps + left_in_epoch),
                    e.loss_sum / double(e.seen), e.correct / double(e.seen), ips,
                    el / double(e.steps) * double(left_in_epoch));
}

// The epoch's row (wall_s left to the caller): training totals, test and validation
// evaluation, MoE and loss-scaling columns.
MetricsRow Trainer::epoch_row(double train_seconds) {
  metrics::ClassificationStats ts = evaluate(*model_, data_.test, config_, device_);
  test_bins_ = ts.bins();
  if (!data_.holdout_classes.empty())
    run_->say(
        describe(zero_shot_summary(evaluate_logits(*model_, data_.test, config_, device_), data_.holdout_classes)));
  double val_acc = NAN, val_nll = NAN;
  if (data_.val.size() > 0) {
    metrics::ClassificationStats vs = evaluate(*model_, data_.val, config_, device_);
    val_acc = vs.accuracy();
    val_nll = vs.nll();
  }
  const EpochTally& e = tally_;
  double seen = double(std::max<int64_t>(e.seen, 1));
  return MetricsRow{e.epoch + 1,
                    e.lr,
                    e.loss_sum / seen,
                    e.correct / seen,
                    ts.nll(),
                    ts.accuracy(),
                    ts.nll(),
                    ts.ece(),
                    double(e.seen) / std::max(train_seconds, 1e-9),
                    0.0,
                    val_acc,
                    val_nll,
                    moe_->active() ? moe_->epoch_metrics() : std::vector<double>{},
                    scaler_->enabled() ? std::vector<double>{double(scaler_->skipped_steps()), scaler_->get_scale()}
                                       : std::vector<double>{}};
}

// The epoch's images and histograms for TensorBoard: the test set's reliability diagram
// and, with MoE layers, each layer's expert load and expert x class table.
void Trainer::add_epoch_images(metrics::EventFileBuilder& events) const {
  events.add_image("eval/reliability", plot::reliability_diagram(test_bins_.count, test_bins_.confidence_sum,
                                                                 test_bins_.correct_sum, "test set: reliability")
                                           .canvas);
  if (moe_->active()) moe_->add_epoch_events(events, data_.train.class_names);
}

void Trainer::report_epoch(const MetricsRow& r) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(4) << "epoch " << r.epoch << ": train loss " << r.train_loss << " acc "
    << r.train_acc << " | test loss " << r.test_loss << " acc " << r.test_acc << " ece " << r.test_ece
    << (std::isnan(r.val_acc) ? std::string() : " | val acc " + csv_number(r.val_acc)) << std::setprecision(1) << " | "
    << r.img_per_s << " img/s, " << r.wall_s << " s";
  if (moe_->active())
    o << std::setprecision(4) << "\n  moe: aux " << r.moe[0] << " balance " << r.moe[1] << " max expert frac "
      << r.moe[3] << " utilisation " << r.moe[4] << " dropped " << r.moe[5] << " gate entropy " << r.moe[6];
  if (comm_.size() > 1) {
    double comm = dp_->take_comm_seconds(), train = double(tally_.seen) / std::max(r.img_per_s, 1e-9);
    o << std::setprecision(2) << "\n  dist: summing gradients over " << comm_.size() << " ranks took " << comm
      << " s of " << train << " s of training (" << std::setprecision(1) << 100.0 * comm / std::max(train, 1e-9)
      << (dp_->overlaps() ? "%, after backward: what it did not hide)" : "%, not overlapped with backward)");
  }
  if (scaler_->enabled())
    o << std::setprecision(0) << "\n  f16: loss scale " << scaler_->get_scale() << ", skipped steps "
      << scaler_->skipped_steps();
  run_->say(o.str());
}

}  // namespace engine::app
