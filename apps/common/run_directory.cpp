#include "apps/common/run_directory.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <ostream>
#include <utility>

#include "apps/common/moe_tracker.h"
#include "engine/core/generator.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"

namespace fs = std::filesystem;

namespace engine::app {
namespace {

const char* kLastCheckpoint = "last.safetensors";
const char* kLastOptimizerState = "last_optim.safetensors";
const char* kBestCheckpoint = "best.safetensors";

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

// Creates the run's directory exclusively (mkdir fails on an existing one), so that two
// runs started in the same second never share one: the second takes the next suffix.
std::string new_run_path(const TrainConfig& c) {
  std::string parent = c.output.dir + "/" + c.data.dataset;
  std::error_code ec;
  fs::create_directories(parent, ec);
  ENGINE_CHECK(!ec, "cannot create the run directory's parent '" << parent << "': " << ec.message());
  std::string base = parent + "/" + (c.name.empty() ? c.model.arch : c.name) + "-" + timestamp();
  for (int i = 0; i < 10000; ++i) {
    std::string path = i == 0 ? base : base + "-" + std::to_string(i);
    if (::mkdir(path.c_str(), 0777) == 0) return path;
    ENGINE_CHECK(errno == EEXIST, "cannot create the run directory '" << path << "': " << std::strerror(errno));
  }
  ENGINE_THROW("cannot create a run directory: '" << base << "' and 10000 suffixed names exist");
}

// Both checkpoint files carry it; resume restores the generator from it.
std::map<std::string, std::string> checkpoint_meta(int64_t epoch, int64_t step, double best, const std::string& arch) {
  const Generator& g = default_generator();
  return {{"epoch", std::to_string(epoch)},           {"step", std::to_string(step)},
          {"best_test_acc", std::to_string(best)},    {"rng_seed", std::to_string(g.seed())},
          {"rng_offset", std::to_string(g.offset())}, {"arch", arch},
          {"format", "pytorch state_dict names"}};
}

io::NamedTensors in_file_order(const io::SafetensorsData& d) {
  io::NamedTensors state;
  for (const auto& n : d.order) state.emplace_back(n, d.tensors.at(n));
  return state;
}

}  // namespace

RunDirectory::RunDirectory(const TrainConfig& config, const std::string& resume_dir, std::ostream& out)
    : arch_(config.model.arch), out_(out), path_(resume_dir.empty() ? new_run_path(config) : resume_dir) {
  fs::create_directories(path_ + "/checkpoints");
  io::write_file_atomic(path_ + "/config.json", config.json.dump(2) + "\n");
  log_.open(path_ + "/train.log", std::ios::app);
  events_ = std::make_unique<metrics::EventWriter>(path_);
}

void RunDirectory::say(const std::string& text) {
  out_ << text << std::endl;
  log_ << text << std::endl;
}

void RunDirectory::write_file(const std::string& name, const std::string& text) const {
  io::write_file_atomic(path_ + "/" + name, text);
}

RunDirectory::Position RunDirectory::resume(nn::Module& model, optim::Optimizer& opt, optim::GradScaler& scaler,
                                            Device device) {
  std::string ckpt = checkpoint(kLastCheckpoint), ckpt_opt = checkpoint(kLastOptimizerState);
  io::SafetensorsData m = io::load_safetensors(ckpt), o = io::load_safetensors(ckpt_opt);
  ENGINE_CHECK(m.metadata["step"] == o.metadata["step"],
               "resume: " << ckpt << " (step " << m.metadata["step"] << ") and " << ckpt_opt << " (step "
                          << o.metadata["step"] << ") do not belong together");
  model.load_state_dict(in_file_order(m));
  io::NamedTensors ostate = in_file_order(o);
  Position at;
  at.step = std::stoll(m.metadata["step"]);
  scaler.load_state_dict(ostate);  // takes its entries out of ostate
  opt.load_state_dict(ostate, at.step);
  opt.to(device);
  at.epoch = std::stoll(m.metadata["epoch"]);
  best_test_acc_ = std::stod(m.metadata["best_test_acc"]);
  default_generator().set_state(std::stoull(m.metadata["rng_seed"]), std::stoull(m.metadata["rng_offset"]));
  rows_ = read_metrics(path_ + "/metrics.csv", at.epoch);
  return at;
}

std::string RunDirectory::last_checkpoint_or_none() const {
  std::string ckpt = checkpoint(kLastCheckpoint);
  return fs::exists(ckpt) ? ckpt : std::string("(none yet)");
}

void RunDirectory::add_epoch(const MetricsRow& r) {
  rows_.push_back(r);
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
    if (!std::isnan(v)) events_->add_scalar(tag, v, r.epoch);
  for (size_t i = 0; i < r.moe.size(); ++i) {
    const std::string& col = MoeTracker::metric_columns()[i];
    events_->add_scalar("moe/" + col.substr(4), r.moe[i], r.epoch);
  }
  events_->flush();
}

void RunDirectory::save_epoch(int64_t step, nn::Module& model, const optim::Optimizer& opt,
                              const optim::GradScaler& scaler, bool moe_columns) {
  const MetricsRow& r = rows_.back();
  // Optimizer state first, then the model: resume checks that both carry one step.
  io::NamedTensors ost = opt.state_dict();
  if (scaler.enabled())
    for (auto& e : scaler.state_dict()) ost.push_back(e);
  auto meta = checkpoint_meta(r.epoch, step, std::max(best_test_acc_, r.test_acc), arch_);
  io::save_safetensors(checkpoint(kLastOptimizerState), ost, meta);
  io::NamedTensors state = model.state_dict();
  io::save_safetensors(checkpoint(kLastCheckpoint), state, meta);
  if (r.test_acc > best_test_acc_) {
    best_test_acc_ = r.test_acc;
    io::save_safetensors(checkpoint(kBestCheckpoint), state, meta);
  }
  write_file("metrics.csv", metrics_csv(rows_, moe_columns, scaler.enabled()));
}

}  // namespace engine::app
