#include "apps/common/run_index.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "apps/common/metrics_csv.h"
#include "base/check.h"
#include "engine/io/atomic_file.h"
#include "engine/io/config.h"
#include "engine/io/json.h"

namespace fs = std::filesystem;

namespace engine::app {
namespace {

// A train_app holds an exclusive flock on the run folder while it trains.
bool locked_by_another(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool busy = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return busy;
}

io::Json read_json_or_null(const std::string& path) {
  if (!fs::is_regular_file(path)) return nullptr;
  io::JsonParse p = io::parse_json(io::read_file(path));
  return p.ok ? p.value : io::Json(nullptr);
}

}  // namespace

RunStatus run_status(const std::string& dir) {
  RunStatus s;
  s.dir = dir;
  io::Json config = read_json_or_null(dir + "/config.json");
  if (config.is_object()) {
    s.name = config.value("name", "");
    if (config.contains("data") && config["data"].is_object()) s.dataset = config["data"].value("dataset", "");
    if (config.contains("training") && config["training"].is_object())
      s.epochs_planned = config["training"].value("epochs", int64_t(0));
  }
  if (fs::exists(dir + "/metrics.csv")) {
    try {
      for (const MetricsRow& r : read_metrics(dir + "/metrics.csv", INT64_MAX)) {
        s.epochs_done = std::max(s.epochs_done, r.epoch);
        if (std::isfinite(r.test_acc)) s.best_test_acc = std::max(s.best_test_acc, r.test_acc);
        s.wall_s = r.wall_s;
      }
    } catch (const Error&) {
      // A damaged metrics.csv leaves the columns empty; the state still shows.
    }
  }
  io::Json status = read_json_or_null(dir + "/status.json");
  if (locked_by_another(dir)) {
    s.state = "running";
  } else if (status.is_object() && status.value("state", "") == "finished") {
    s.state = "finished";
  } else if (status.is_object() && status.value("state", "") == "failed") {
    s.state = "failed";
    s.error = status.value("error", "");
  } else {
    s.state = "interrupted";
  }
  return s;
}

std::vector<RunStatus> list_runs(const std::string& root) {
  std::vector<std::string> dirs;
  std::error_code ec;
  if (fs::exists(root + "/config.json")) dirs.push_back(root);
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() >= 3 || !it->is_directory() || it->is_symlink()) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->path().filename() == "checkpoints") {
      it.disable_recursion_pending();
      continue;
    }
    if (fs::exists(it->path() / "config.json")) {
      dirs.push_back(it->path().string());
      it.disable_recursion_pending();
    }
  }
  ENGINE_CHECK(!ec, "cannot list '" << root << "': " << ec.message());
  std::sort(dirs.begin(), dirs.end());
  std::vector<RunStatus> runs;
  for (const std::string& d : dirs) runs.push_back(run_status(d));
  return runs;
}

std::string runs_table(const std::vector<RunStatus>& runs) {
  std::ostringstream o;
  size_t w = 3;
  for (const RunStatus& r : runs) w = std::max(w, r.dir.size());
  o << std::left << std::setw(int(w)) << "run"
    << "  " << std::setw(16) << "name"
    << "  " << std::setw(14) << "dataset"
    << "  " << std::setw(26) << "status"
    << "  " << std::setw(7) << "epochs"
    << "  " << std::setw(8) << "best acc"
    << "  wall\n";
  for (const RunStatus& r : runs) {
    std::string state = r.state == "interrupted" ? "interrupted at epoch " + std::to_string(r.epochs_done) : r.state;
    std::ostringstream acc, wall;
    if (r.best_test_acc >= 0) acc << std::fixed << std::setprecision(4) << r.best_test_acc;
    if (r.epochs_done > 0) wall << std::fixed << std::setprecision(1) << r.wall_s << " s";
    o << std::setw(int(w)) << r.dir << "  " << std::setw(16) << (r.name.empty() ? "-" : r.name) << "  " << std::setw(14)
      << r.dataset << "  " << std::setw(26) << state << "  " << std::setw(7)
      << (std::to_string(r.epochs_done) + "/" + std::to_string(r.epochs_planned)) << "  " << std::setw(8)
      << (acc.str().empty() ? "-" : acc.str()) << "  " << (wall.str().empty() ? "-" : wall.str()) << "\n";
    if (!r.error.empty()) o << "    " << r.error << "\n";
  }
  if (runs.empty()) o << "(no run directories)\n";
  return o.str();
}

}  // namespace engine::app
