#pragma once
// What `report_app --list <folder>` prints: every run directory under a folder with its
// name, dataset, state, epochs, best test accuracy and wall time, read from config.json,
// the published epoch (checkpoints/last), status.json and the folder's lock.
#include <cstdint>
#include <string>
#include <vector>

namespace engine::app {

struct RunStatus {
  std::string dir, name, dataset;
  // "running" (a train_app holds the folder's lock), "finished", "failed" (status.json),
  // "interrupted" (none of these: killed, stopped, or the machine went down).
  std::string state;
  std::string error;  // the failure's message, for "failed"
  int64_t epochs_done = 0, epochs_planned = 0;
  double best_test_acc = -1, wall_s = 0;
};

RunStatus run_status(const std::string& run_dir);
// Every folder holding a config.json at most three levels under `root` (root itself
// included), sorted by path.
std::vector<RunStatus> list_runs(const std::string& root);
// One line per run under a header; "interrupted at epoch N" for interrupted runs.
std::string runs_table(const std::vector<RunStatus>& runs);

}  // namespace engine::app
