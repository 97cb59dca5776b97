#pragma once
// The training loop behind train_app: config -> data and model (the registries, through
// run_setup.h) -> optimizer -> epochs of step() -> metrics and checkpoints in a
// RunDirectory. Owns no math.
#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/data_parallel.h"
#include "apps/common/metrics_csv.h"
#include "apps/common/progress.h"
#include "apps/common/run_directory.h"
#include "apps/common/run_setup.h"
#include "apps/common/train_config.h"
#include "data/loader.h"
#include "engine/optim/grad_scaler.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "metrics/classification.h"

namespace engine::runtime {
class CudaGraph;
}

namespace engine::app {

class MoeTracker;

struct TrainResult {
  std::string run_dir;
  int64_t epochs_done = 0, steps = 0;
  double test_accuracy = 0, test_nll = 0, test_ece = 0;
};

class Trainer {
 public:
  // Builds everything from the config (throwing io::ConfigError before anything is
  // written when it does not fit), then creates the run directory, or continues the run
  // in resume_dir (whose saved config.json `config` should be) from its last checkpoint.
  // Progress goes to `out`.
  Trainer(const TrainConfig& config, const std::string& resume_dir, std::ostream& out);
  ~Trainer();

  // Trains to the configured end. stop_after_epochs > 0 ends the run after that many
  // epochs of this call, as an interruption would (the schedule is unchanged), so that
  // resuming can be tested.
  TrainResult run(int64_t stop_after_epochs = 0);

  // One optimisation step on a batch: forward, loss and backward (replayed from a CUDA
  // graph with training.cuda_graph, after one eager step), clipping, the optimizer
  // step. Its loss and accuracy are read back later, in groups (read_pending).
  void step(const data::Batch& batch);

  const std::string& run_dir() const { return run_->path(); }

 private:
  // What forward_backward leaves on the device.
  struct StepTensors {
    Tensor loss, logits;
    double aux = 0;  // the MoE layers' weighted aux loss (read on the host), else 0
  };
  // A step whose loss and correct count are still on the device.
  struct PendingStep {
    int64_t step, images;
    double aux;
    Tensor loss, correct;  // device scalars (this rank's rows: their mean loss and hit count)
    int64_t local_images;  // the rows of the batch this rank trained on
  };
  // The current epoch's running totals.
  struct EpochTally {
    int64_t epoch = 0, seen = 0, steps = 0;
    double loss_sum = 0, correct = 0, lr = 0;
  };

  void build_loader();
  void build_optimizer();
  void print_summary();
  void check_expert_parallel_config() const;
  void distribute_moe();
  StepTensors forward_backward(const Tensor& x, const Tensor& y);
  // Data parallel or ghost batch norm: this process's shards of the batch, one after
  // the other, then the gradients combined (data_parallel.h). Returns the loss (mean
  // over the local rows) and the local hit count in `correct`.
  StepTensors sharded_step(const data::Batch& b, Tensor* correct, int64_t* local_rows);
  // ENGINE_DIST_FAIL=<rank>:<step>:raise|kill makes that rank fail at that step (tests).
  void fail_here_for_tests() const;
  void capture_graph(const Tensor& x, const Tensor& y);
  StepTensors replay_graph(const Tensor& x, const Tensor& y);
  void read_pending();
  void run_epoch(int64_t epoch);
  MetricsRow epoch_row(double train_seconds);
  void report_epoch(const MetricsRow& r);
  void add_epoch_images(metrics::EventFileBuilder& events) const;

  TrainConfig config_;
  dist::Communicator& comm_;
  Device device_;
  Datasets data_;
  std::shared_ptr<nn::Module> model_;
  std::unique_ptr<MoeTracker> moe_;
  // Several ranks on CUDA devices with NCCL: the gradients' communicator.
  std::unique_ptr<dist::Communicator> nccl_;
  std::unique_ptr<DataParallel> dp_;
  std::unique_ptr<data::BatchSource> loader_;
  int64_t steps_per_epoch_ = 0, total_steps_ = 0;
  std::unique_ptr<optim::Optimizer> opt_;
  std::unique_ptr<optim::GradScaler> scaler_;
  optim::ScheduleOptions schedule_;
  DType compute_dtype_ = DType::f32;
  std::unique_ptr<RunDirectory> run_;
  std::unique_ptr<Progress> progress_;

  int64_t start_epoch_ = 0, step_ = 0;
  // The host reads losses and accuracies every read_every_ steps (see the constructor).
  int64_t read_every_ = 1;
  std::vector<PendingStep> pending_;
  EpochTally tally_;
  metrics::ReliabilityBins test_bins_;  // the last test evaluation's, for the event file
  std::chrono::steady_clock::time_point epoch_start_;

  // training.cuda_graph: the captured forward + backward, its static inputs and outputs.
  std::unique_ptr<runtime::CudaGraph> graph_;
  Tensor graph_x_, graph_y_;
  StepTensors graph_out_;
  bool warmed_up_ = false;
};

}  // namespace engine::app
