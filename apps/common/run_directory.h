#pragma once
// A training run's directory, kept as a transaction of epochs:
//   config.json                 the effective configuration (what --resume reads back)
//   train.log                   what the run printed, appended across resumes
//   model_stats.csv             parameters and FLOPs per layer
//   status.json                 how the run ended: finished, or failed with the error
//   checkpoints/epoch-NNNNNN/   epoch N's complete state: model.safetensors,
//                               optim.safetensors (optimizer and loss scaler), best.safetensors
//                               (a hard link to the best epoch's model so far), metrics.csv
//                               (rows 1..N) and, with MoE layers, moe_layers.csv and
//                               moe_expert_class_epochN.csv
//   checkpoints/last            a symbolic link to the published epoch's folder
//   checkpoints/last.safetensors, last_optim.safetensors, best.safetensors, metrics.csv,
//   moe_layers.csv              symbolic links through checkpoints/last
//   events.out.tfevents.epoch-NNNNNN, moe_expert_class_epochN.csv   one file per published epoch
//                               (the event file is kept in the epoch folder as epoch_events.bin,
//                               a name TensorBoard does not pick up, until it is published)
//
// Publishing epoch N writes and fsyncs epoch-N/ completely, then renames a new link over
// checkpoints/last: that one rename is the commit. Before it every reader (eval_app,
// report_app, --resume) sees epoch N-1's model, optimizer, best, metrics and MoE tables
// together; after it, epoch N's. What follows the commit (the event file and the expert x
// class table at the top level, removing the previous folder) is derived from the
// published epoch and redone by a resumed run when a kill cut it short. A resumed run
// also removes what no published epoch owns: a half-written epoch folder, temporary
// files, event and MoE files of later epochs.
//
// While a RunDirectory lives it holds an exclusive lock (flock) on the folder, so a
// second train_app on the same run stops with a message instead of mixing files.
#include <fstream>
#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "apps/common/metrics_csv.h"
#include "apps/common/train_config.h"
#include "engine/io/safetensors.h"
#include "engine/nn/module.h"
#include "engine/optim/grad_scaler.h"
#include "engine/optim/optimizer.h"
#include "metrics/tfevents.h"

namespace engine::app {

// Files an epoch publishes besides the checkpoints and metrics.csv (the MoE tables).
struct EpochFiles {
  // A file of this epoch alone, under its name (also copied to the run's top level).
  struct Own {
    std::string name, text;
  };
  // A table that grows each epoch: the published epoch's file plus these rows (the
  // header first when there is no such file yet).
  struct Rows {
    std::string name, header, rows;
  };
  std::vector<Own> own;
  std::vector<Rows> rows;
  // What the epoch's event file holds besides the row's scalars (images, histograms,
  // per-layer scalars; the tag scheme of metrics/tfevents.h).
  std::function<void(metrics::EventFileBuilder&)> events;
};

class RunDirectory {
 public:
  // A new run (resume_dir empty) gets <output.dir>/<data.dataset>/<name or model.arch>-
  // <YYYYmmdd-HHMMSS>, created exclusively (-1, -2, ... appended while the name is
  // taken), with config.json written and train.log opened. A resumed run only checks
  // and locks resume_dir here and writes nothing until resume() has loaded and checked
  // the published epoch.
  //
  // In a run of several processes only rank 0 writes (Role::Writer); the others are
  // readers: a resumed run loads its checkpoint through resume() like the writer, and
  // nothing else reads or writes files (say, write_file, finish and save_epoch do nothing).
  enum class Role { Writer, Reader };
  RunDirectory(const TrainConfig& config, const std::string& resume_dir, std::ostream& out, Role role = Role::Writer);
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::string& path() const { return path_; }
  // A reader of a new run learns the writer's folder.
  void set_path(const std::string& path) {
    if (!writer_) path_ = path;
  }
  // A line to the output and to train.log.
  void say(const std::string& text);
  // Writes <path>/<name> atomically.
  void write_file(const std::string& name, const std::string& text) const;

  // Where a resumed run continues.
  struct Position {
    int64_t epoch = 0, step = 0;
  };
  // Loads the published epoch into the model and the optimizer state (with the loss
  // scaler's) into `opt` and `scaler`, restores the random generator and the metrics
  // rows; with no published epoch yet, the run starts over (epoch 0). Throws, having
  // written nothing, when the checkpoint does not fit. Then cleans the folder (see
  // above), rewrites config.json (with this call's overrides) and opens train.log.
  Position resume(nn::Module& model, optim::Optimizer& opt, optim::GradScaler& scaler, Device device);

  // The rows so far (a resumed run's start with the published epoch's).
  const std::vector<MetricsRow>& rows() const { return rows_; }
  // The path of the last checkpoint when one was published, else "(none yet)".
  std::string last_checkpoint_or_none() const;

  // How the run ended, in status.json (read by report_app --list): "finished", or
  // "failed" with the error's message. A resumed run removes it when it starts.
  void finish(const std::string& state, const std::string& error = "");

  // Metadata the model checkpoints carry besides the run's position (model_card.h).
  void describe(const std::map<std::string, std::string>& card) { card_ = card; }

  // An epoch's row, published by the next save_epoch.
  void add_epoch(const MetricsRow& row);
  // Publishes the epoch of the last add_epoch: the optimizer state, the model (also as
  // best when its test accuracy is above every earlier epoch's), metrics.csv and `extra`.
  // `moe_columns`: the MoE columns of metrics.csv (MoeTracker::columns(); empty for a
  // model without MoE layers).
  // Every rank calls it: with a state gatherer set, the state is gathered first.
  void save_epoch(int64_t step, nn::Module& model, const optim::Optimizer& opt, const optim::GradScaler& scaler,
                  const std::vector<std::string>& moe_columns, const EpochFiles& extra = {});
  // Expert parallel: turns this rank's model or optimizer state into the whole one (a
  // collective every rank runs in save_epoch), so that checkpoints are those of one
  // process whatever the number of ranks.
  using StateGatherer = std::function<io::NamedTensors(io::NamedTensors)>;
  void set_state_gatherer(StateGatherer g) { gather_ = std::move(g); }

 private:
  std::string checkpoints() const { return path_ + "/checkpoints"; }
  std::string published_dir() const { return checkpoints() + "/" + published_; }
  void lock();
  void open_log();
  void write_epoch_folder(const std::string& dir, int64_t step, const io::NamedTensors& model_state,
                          io::NamedTensors optimizer_state, const optim::GradScaler& scaler,
                          const std::vector<std::string>& moe_columns, const EpochFiles& extra);
  void publish(const std::string& epoch_dir_name);
  // After a commit or on resume: the links, the event files and top-level MoE files of
  // the published epochs, and no folder or file of an unpublished one.
  void tidy();

  StateGatherer gather_;
  std::string arch_;  // model.arch, recorded in the checkpoints
  std::string config_text_;
  std::ostream& out_;
  std::string path_;
  std::string published_;  // the folder name checkpoints/last points at; empty before the first epoch
  // The flock on the run folder, released when closed (also when a constructor throws).
  struct FolderLock {
    int fd = -1;
    ~FolderLock();
  };
  FolderLock lock_;
  bool writer_ = true;
  bool resuming_ = false;
  std::ofstream log_;
  std::vector<MetricsRow> rows_;
  std::map<std::string, std::string> card_;
  double best_test_acc_ = -1;
};

}  // namespace engine::app
