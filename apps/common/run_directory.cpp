#include "apps/common/run_directory.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>
#include <utility>

#include "apps/common/moe_tracker.h"
#include "engine/core/generator.h"
#include "engine/io/atomic_file.h"
#include "engine/io/config.h"
#include "engine/io/json.h"
#include "engine/io/safetensors.h"
#include "metrics/tfevents.h"

namespace fs = std::filesystem;

namespace engine::app {
namespace {

// Inside an epoch folder.
const char* kModel = "model.safetensors";
const char* kOptimizer = "optim.safetensors";
const char* kBest = "best.safetensors";
const char* kMetrics = "metrics.csv";
const char* kEpochEvents = "epoch_events.bin";
// In checkpoints/: the commit point, and its temporary name while being replaced.
const char* kLast = "last";
const char* kLastTemp = ".last.tmp";
const char* kEpochPrefix = "epoch-";
const char* kEventsPrefix = "events.out.tfevents.epoch-";
const char* kExpertClassPrefix = "moe_expert_class_epoch";

// The links through checkpoints/last, relative to the run folder: the user-facing names
// of the published epoch's files.
const std::vector<std::pair<std::string, std::string>>& published_links() {
  static const std::vector<std::pair<std::string, std::string>> links = {
      {"checkpoints/last.safetensors", "last/model.safetensors"},
      {"checkpoints/last_optim.safetensors", "last/optim.safetensors"},
      {"checkpoints/best.safetensors", "last/best.safetensors"},
      {"metrics.csv", "checkpoints/last/metrics.csv"},
      {"moe_layers.csv", "checkpoints/last/moe_layers.csv"}};
  return links;
}

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

std::string numbered(const char* prefix, int64_t n) {
  std::ostringstream o;
  o << prefix << std::setw(6) << std::setfill('0') << n;
  return o.str();
}

// The number after `prefix` in a file name that is exactly prefix + digits (+ suffix),
// else -1.
int64_t number_after(const std::string& name, const std::string& prefix, const std::string& suffix = "") {
  if (name.size() <= prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
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
  std::ostringstream b;
  b << std::setprecision(17) << best;
  return {{"epoch", std::to_string(epoch)},
          {"step", std::to_string(step)},
          {"best_test_acc", b.str()},
          {"rng_seed", std::to_string(g.seed())},
          {"rng_offset", std::to_string(g.offset())},
          {"arch", arch},
          {"format", "pytorch state_dict names"}};
}

const std::string& meta_value(const io::SafetensorsData& d, const std::string& file, const std::string& key) {
  auto it = d.metadata.find(key);
  ENGINE_CHECK(it != d.metadata.end(),
               "resume: checkpoint '" << file << "' has no '" << key << "' in its metadata; it was not written by a "
                                      << "training run (or was edited), so the run cannot continue from it");
  return it->second;
}

// A whole-string unsigned number from a checkpoint's metadata.
uint64_t meta_unsigned(const io::SafetensorsData& d, const std::string& file, const std::string& key) {
  const std::string& v = meta_value(d, file, key);
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  ENGINE_CHECK(!v.empty() && v[0] != '-' && errno == 0 && *end == '\0',
               "resume: checkpoint '" << file << "' metadata '" << key << "' = '" << v
                                      << "' is not a whole number >= 0 (the file is damaged or was edited)");
  return n;
}

double meta_double(const io::SafetensorsData& d, const std::string& file, const std::string& key) {
  const std::string& v = meta_value(d, file, key);
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(v.c_str(), &end);
  ENGINE_CHECK(!v.empty() && errno == 0 && *end == '\0',
               "resume: checkpoint '" << file << "' metadata '" << key << "' = '" << v
                                      << "' is not a number (the file is damaged or was edited)");
  return x;
}

io::NamedTensors in_file_order(const io::SafetensorsData& d) {
  io::NamedTensors state;
  for (const auto& n : d.order) state.emplace_back(n, d.tensors.at(n));
  return state;
}

void remove_path(const fs::path& p) {
  io::crash_point("removing '" + p.string() + "'");
  std::error_code ec;
  fs::remove_all(p, ec);
  ENGINE_CHECK(!ec, "cannot remove '" << p.string() << "': " << ec.message());
}

// A symbolic link created under a temporary name and renamed over `link`, so that a
// reader sees the old target or the new one.
void replace_link(const std::string& folder, const std::string& link, const std::string& temp,
                  const std::string& target) {
  std::string tmp = folder + "/" + temp, dst = folder + "/" + link;
  ::unlink(tmp.c_str());
  ENGINE_CHECK(::symlink(target.c_str(), tmp.c_str()) == 0,
               "cannot create the link '" << tmp << "' -> '" << target << "': " << std::strerror(errno));
  io::crash_point("link '" + tmp + "' -> '" + target + "' created");
  ENGINE_CHECK(::rename(tmp.c_str(), dst.c_str()) == 0,
               "cannot rename '" << tmp << "' to '" << dst << "': " << std::strerror(errno));
  io::sync_folder(folder, "publishing '" + dst + "' -> '" + target + "':");
  io::crash_point("link '" + dst + "' -> '" + target + "' published");
}

// The MoE values among them under moe/all/<column without "moe_">.
std::vector<std::pair<std::string, double>> event_scalars(const MetricsRow& r,
                                                          const std::vector<std::string>& moe_columns) {
  std::vector<std::pair<std::string, double>> s;
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
    if (!std::isnan(v)) s.emplace_back(tag, v);
  for (size_t i = 0; i < r.moe.size() && i < moe_columns.size(); ++i)
    if (!std::isnan(r.moe[i])) s.emplace_back("moe/all/" + moe_columns[i].substr(4), r.moe[i]);
  return s;
}

}  // namespace

RunDirectory::RunDirectory(const TrainConfig& config, const std::string& resume_dir, std::ostream& out, Role role)
    : arch_(config.model.arch),
      config_text_(config.json.dump(2) + "\n"),
      out_(out),
      writer_(role == Role::Writer),
      resuming_(!resume_dir.empty()) {
  if (resuming_) {
    path_ = resume_dir;
    while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
    ENGINE_CHECK(fs::is_directory(path_), "resume: '" << path_ << "' is not a run directory (no such folder)");
    if (writer_) lock();
    std::string last = checkpoints() + "/" + kLast;
    if (fs::is_symlink(last)) {
      published_ = fs::read_symlink(last).string();
      ENGINE_CHECK(number_after(published_, kEpochPrefix) >= 0 && fs::is_directory(published_dir()),
                   "resume: '" << last << "' points at '" << published_
                               << "', which is not an epoch folder of this run; the run directory was edited");
    } else {
      ENGINE_CHECK(!fs::exists(last),
                   "resume: '" << last << "' is not a symbolic link (was the run directory copied with its links "
                               << "followed? copy runs with 'cp -a'); the run cannot continue from it");
      ENGINE_CHECK(!fs::exists(checkpoints() + "/last.safetensors"),
                   "resume: '" << path_ << "' keeps its checkpoints in the older layout (checkpoints/*.safetensors "
                               << "without checkpoints/last); evaluate it with eval_app, or start a new run");
      // No epoch published: at most the first one was being written when the run stopped.
      // Any later epoch folder means the link was removed: refuse rather than start over.
      if (fs::is_directory(checkpoints()))
        for (const auto& e : fs::directory_iterator(checkpoints())) {
          int64_t k = number_after(e.path().filename().string(), kEpochPrefix);
          ENGINE_CHECK(k <= 1, "resume: '" << last << "' is missing but '" << e.path().string()
                                           << "' exists: the run directory was edited; restore the link (ln -s "
                                           << e.path().filename().string() << " " << last
                                           << ") to continue from that epoch");
        }
    }
    return;
  }
  if (!writer_) return;  // set_path() names the writer's folder
  path_ = new_run_path(config);
  lock();
  std::error_code ec;
  fs::create_directories(checkpoints(), ec);
  ENGINE_CHECK(!ec, "cannot create '" << checkpoints() << "': " << ec.message());
  write_file("config.json", config_text_);
  open_log();
}

RunDirectory::FolderLock::~FolderLock() {
  if (fd >= 0) ::close(fd);  // releases the lock
}

void RunDirectory::lock() {
  lock_.fd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ENGINE_CHECK(lock_.fd >= 0, "cannot open the run directory '" << path_ << "': " << std::strerror(errno));
  if (::flock(lock_.fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    ::close(lock_.fd);
    lock_.fd = -1;
    ENGINE_CHECK(e != EWOULDBLOCK, "the run directory '" << path_ << "' is in use by another process (a train_app "
                                                         << "training or resuming it); wait for it to end or stop it");
    ENGINE_THROW("cannot lock the run directory '" << path_ << "': " << std::strerror(e));
  }
}

void RunDirectory::open_log() {
  log_.open(path_ + "/train.log", std::ios::app);
  ENGINE_CHECK(log_.good(), "cannot open '" << path_ << "/train.log' for appending");
}

void RunDirectory::say(const std::string& text) {
  if (!writer_) return;
  out_ << text << std::endl;
  log_ << text << std::endl;
}

void RunDirectory::write_file(const std::string& name, const std::string& text) const {
  if (!writer_) return;
  io::write_file_atomic(path_ + "/" + name, text);
}

RunDirectory::Position RunDirectory::resume(nn::Module& model, optim::Optimizer& opt, optim::GradScaler& scaler,
                                            Device device) {
  ENGINE_CHECK(resuming_, "RunDirectory::resume on a new run");
  Position at;
  if (!published_.empty()) {
    std::string ckpt = published_dir() + "/" + kModel, ckpt_opt = published_dir() + "/" + kOptimizer;
    io::SafetensorsData m = io::load_safetensors(ckpt), o = io::load_safetensors(ckpt_opt);
    at.step = int64_t(meta_unsigned(m, ckpt, "step"));
    at.epoch = int64_t(meta_unsigned(m, ckpt, "epoch"));
    ENGINE_CHECK(number_after(published_, kEpochPrefix) == at.epoch, "resume: " << ckpt << " is of epoch " << at.epoch
                                                                                << " but lies in " << published_
                                                                                << "; the run directory was edited");
    ENGINE_CHECK(meta_unsigned(o, ckpt_opt, "step") == uint64_t(at.step),
                 "resume: " << ckpt << " (step " << at.step << ") and " << ckpt_opt << " (step "
                            << meta_value(o, ckpt_opt, "step") << ") do not belong together");
    double best = meta_double(m, ckpt, "best_test_acc");
    uint64_t seed = meta_unsigned(m, ckpt, "rng_seed"), offset = meta_unsigned(m, ckpt, "rng_offset");
    std::vector<MetricsRow> rows = read_metrics(published_dir() + "/" + kMetrics, at.epoch);
    ENGINE_CHECK(int64_t(rows.size()) == at.epoch && (rows.empty() || rows.back().epoch == at.epoch),
                 "resume: " << published_dir() << "/" << kMetrics << " has " << rows.size() << " rows up to epoch "
                            << at.epoch << " where the checkpoint is of epoch " << at.epoch
                            << "; the run directory was edited");
    // Everything is read and checked; only now does anything change, in memory first.
    model.load_state_dict(in_file_order(m));
    io::NamedTensors ostate = in_file_order(o);
    scaler.load_state_dict(ostate);  // takes its entries out of ostate
    opt.load_state_dict(ostate, at.step);
    opt.to(device);
    best_test_acc_ = best;
    default_generator().set_state(seed, offset);
    rows_ = std::move(rows);
  }
  if (!writer_) return at;
  tidy();
  if (fs::exists(path_ + "/status.json")) remove_path(path_ + "/status.json");
  write_file("config.json", config_text_);
  open_log();
  return at;
}

void RunDirectory::finish(const std::string& state, const std::string& error) {
  if (!writer_) return;
  io::Json j = {{"state", state}, {"epochs", rows_.size()}};
  if (!error.empty()) j["error"] = error;
  write_file("status.json", j.dump(2) + "\n");
}

std::string RunDirectory::last_checkpoint_or_none() const {
  std::string ckpt = checkpoints() + "/last.safetensors";
  return fs::exists(ckpt) ? ckpt : std::string("(none yet)");
}

void RunDirectory::add_epoch(const MetricsRow& r) { rows_.push_back(r); }

void RunDirectory::save_epoch(int64_t step, nn::Module& model, const optim::Optimizer& opt,
                              const optim::GradScaler& scaler, const std::vector<std::string>& moe_columns,
                              const EpochFiles& extra) {
  ENGINE_CHECK(!rows_.empty(), "RunDirectory::save_epoch without add_epoch");
  io::NamedTensors model_state = model.state_dict(), optimizer_state = opt.state_dict();
  if (gather_) {
    model_state = gather_(std::move(model_state));
    optimizer_state = gather_(std::move(optimizer_state));
  }
  if (!writer_) return;
  std::string name = numbered(kEpochPrefix, rows_.back().epoch);
  std::string dir = checkpoints() + "/" + name;
  // A folder of this name is left over from a publish that a kill cut short.
  if (fs::exists(dir)) remove_path(dir);
  ENGINE_CHECK(::mkdir(dir.c_str(), 0777) == 0, "cannot create '" << dir << "': " << std::strerror(errno));
  write_epoch_folder(dir, step, model_state, std::move(optimizer_state), scaler, moe_columns, extra);
  publish(name);
}

void RunDirectory::write_epoch_folder(const std::string& dir, int64_t step, const io::NamedTensors& model_state,
                                      io::NamedTensors ost, const optim::GradScaler& scaler,
                                      const std::vector<std::string>& moe_columns, const EpochFiles& extra) {
  const MetricsRow& r = rows_.back();
  bool improved = r.test_acc > best_test_acc_;
  double best = improved ? r.test_acc : best_test_acc_;
  auto meta = checkpoint_meta(r.epoch, step, best, arch_);
  if (scaler.enabled())
    for (auto& e : scaler.state_dict()) ost.push_back(e);
  io::save_safetensors(dir + "/" + kOptimizer, ost, meta);
  for (const auto& [k, v] : card_) meta.emplace(k, v);  // the run's own keys win
  io::save_safetensors(dir + "/" + kModel, model_state, meta);
  // best.safetensors: this epoch's model, or a second name of the published epoch's best.
  std::string best_src = improved || published_.empty() ? dir + "/" + kModel : published_dir() + "/" + kBest;
  std::string best_dst = dir + "/" + kBest;
  if (::link(best_src.c_str(), best_dst.c_str()) != 0) {
    std::error_code ec;  // a file system without hard links gets a copy
    fs::copy_file(best_src, best_dst, ec);
    ENGINE_CHECK(!ec, "cannot link or copy '" << best_src << "' to '" << best_dst << "': " << ec.message());
  }
  io::crash_point("'" + best_dst + "' linked");
  io::write_file_atomic(dir + "/" + kMetrics, metrics_csv(rows_, moe_columns, scaler.enabled()));
  metrics::EventFileBuilder events(r.epoch);
  for (const auto& [tag, v] : event_scalars(r, moe_columns)) events.add_scalar(tag, v);
  if (extra.events) extra.events(events);
  io::write_file_atomic(dir + "/" + kEpochEvents, events.bytes());
  for (const EpochFiles::Own& f : extra.own) io::write_file_atomic(dir + "/" + f.name, f.text);
  for (const EpochFiles::Rows& t : extra.rows) {
    std::string before = published_.empty() || !fs::exists(published_dir() + "/" + t.name)
                             ? t.header
                             : io::read_file(published_dir() + "/" + t.name);
    io::write_file_atomic(dir + "/" + t.name, before + t.rows);
  }
  best_test_acc_ = best;
  io::sync_folder(dir, "publishing '" + dir + "':");
}

void RunDirectory::publish(const std::string& name) {
  replace_link(checkpoints(), kLast, kLastTemp, name);  // the commit
  published_ = name;
  tidy();
}

void RunDirectory::tidy() {
  // Stray temporaries and unpublished epoch folders.
  for (const std::string& folder : {path_, checkpoints()}) {
    if (!fs::is_directory(folder)) continue;
    std::vector<fs::path> stale;
    for (const auto& e : fs::directory_iterator(folder)) {
      std::string n = e.path().filename().string();
      bool temp = n[0] == '.' && (n.find(".tmp.") != std::string::npos || n.rfind(".tmp") == n.size() - 4);
      bool old_epoch = folder != path_ && number_after(n, kEpochPrefix) >= 0 && n != published_;
      int64_t k =
          folder == path_ ? std::max(number_after(n, kEventsPrefix), number_after(n, kExpertClassPrefix, ".csv")) : -1;
      if (temp || old_epoch || k > int64_t(rows_.size())) stale.push_back(e.path());
    }
    std::sort(stale.begin(), stale.end());
    for (const fs::path& p : stale) remove_path(p);
  }
  if (published_.empty()) return;
  for (const auto& [link, target] : published_links()) {
    std::string at = path_ + "/" + link;
    if (fs::is_symlink(at) || !fs::exists(published_dir() + "/" + fs::path(target).filename().string())) continue;
    std::string folder = fs::path(at).parent_path().string();
    replace_link(folder, fs::path(link).filename().string(), "." + fs::path(link).filename().string() + ".link.tmp",
                 target);
  }
  // The published epoch's event file as it was built; an earlier one lost since (only a
  // removal does that) is rewritten from its metrics row, scalars only.
  for (const MetricsRow& r : rows_) {
    std::string events = path_ + "/" + numbered(kEventsPrefix, r.epoch), kept = published_dir() + "/" + kEpochEvents;
    if (fs::exists(events)) continue;
    bool own = r.epoch == int64_t(rows_.size()) && fs::exists(kept);
    io::write_file_atomic(events,
                          own ? io::read_file(kept)
                              : metrics::scalar_event_file(r.epoch, event_scalars(r, MoeTracker::metric_columns())));
  }
  std::string own = kExpertClassPrefix + std::to_string(rows_.size()) + ".csv";
  if (fs::exists(published_dir() + "/" + own) && !fs::exists(path_ + "/" + own))
    io::write_file_atomic(path_ + "/" + own, io::read_file(published_dir() + "/" + own));
}

}  // namespace engine::app
