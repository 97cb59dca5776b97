#pragma once
// A training run's directory and every file in it:
//   config.json            the effective configuration (what --resume reads back)
//   train.log              what the run printed, appended across resumes
//   events.out.tfevents.*  the epoch scalars for TensorBoard
//   metrics.csv            one row per epoch (apps/common/metrics_csv.h)
//   model_stats.csv        parameters and FLOPs per layer
//   checkpoints/last.safetensors, last_optim.safetensors, best.safetensors
// and the resume of a run from its last checkpoint. The trainer decides what to write
// and when; this class knows the names and formats.
#include <fstream>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/metrics_csv.h"
#include "apps/common/train_config.h"
#include "engine/nn/module.h"
#include "engine/optim/grad_scaler.h"
#include "engine/optim/optimizer.h"
#include "metrics/tfevents.h"

namespace engine::app {

class RunDirectory {
 public:
  // A new run (resume_dir empty) gets <output.dir>/<data.dataset>/<name or model.arch>-
  // <YYYYmmdd-HHMMSS>, with -1, -2, ... appended while that exists; a resumed run keeps
  // resume_dir. Either way config.json is (re)written and train.log opened for appending.
  RunDirectory(const TrainConfig& config, const std::string& resume_dir, std::ostream& out);

  const std::string& path() const { return path_; }
  // A line to the output and to train.log.
  void say(const std::string& text);
  // Writes <path>/<name> atomically.
  void write_file(const std::string& name, const std::string& text) const;

  // Where a resumed run continues.
  struct Position {
    int64_t epoch = 0, step = 0;
  };
  // Loads the last checkpoint into the model and the optimizer state (with the loss
  // scaler's) into `opt` and `scaler`, restores the random generator and the metrics
  // rows up to the checkpoint's epoch. Throws when the two files are of different steps.
  Position resume(nn::Module& model, optim::Optimizer& opt, optim::GradScaler& scaler, Device device);

  // The rows so far (a resumed run's start with those read back from metrics.csv).
  const std::vector<MetricsRow>& rows() const { return rows_; }
  // The path of the last checkpoint when one was written, else "(none yet)".
  std::string last_checkpoint_or_none() const;

  // An epoch's row: kept for metrics.csv and written to the event file.
  void add_epoch(const MetricsRow& row);
  // After add_epoch: the optimizer state and the model as the last checkpoint (the model
  // also as best.safetensors when its test accuracy is the best so far), then metrics.csv.
  // `moe_columns`: the model has MoE layers (their columns go into metrics.csv).
  void save_epoch(int64_t step, nn::Module& model, const optim::Optimizer& opt, const optim::GradScaler& scaler,
                  bool moe_columns);

 private:
  std::string checkpoint(const std::string& file) const { return path_ + "/checkpoints/" + file; }

  std::string arch_;  // model.arch, recorded in the checkpoints
  std::ostream& out_;
  std::string path_;
  std::ofstream log_;
  std::unique_ptr<metrics::EventWriter> events_;
  std::vector<MetricsRow> rows_;
  double best_test_acc_ = -1;
};

}  // namespace engine::app
