#pragma once
// The training loop behind train_app: config -> data -> model -> optimizer -> loop
// -> metrics, checkpoints and a run directory. Owns no math.
#include <iosfwd>
#include <memory>
#include <string>

#include "apps/common/train_config.h"
#include "data/dataset.h"
#include "engine/nn/module.h"
#include "metrics/classification.h"

namespace engine::app {

struct TrainResult {
  std::string run_dir;
  int64_t epochs_done = 0, steps = 0;
  double test_accuracy = 0, test_nll = 0, test_ece = 0;
};

// Starts a new run (resume_dir empty) or continues the run in resume_dir, whose saved
// config.json is used. Progress goes to `out`. stop_after_epochs > 0 ends the run
// after that many epochs of this call, as an interruption would (the schedule is
// unchanged), so that resuming can be tested.
TrainResult run_training(const TrainConfig& config, const std::string& resume_dir, std::ostream& out,
                         int64_t stop_after_epochs = 0);

struct Datasets {
  data::Dataset train, test, val;  // val: held out of train when data.val_size > 0
};
Datasets load_datasets(const TrainConfig& config);
Device resolve_device(const std::string& name);
std::shared_ptr<nn::Module> build_model(const TrainConfig& config, const data::Dataset& train);
// A batch of images as the model takes it: converted to channels-last (once per batch)
// when model.channels_last is set, else unchanged.
Tensor model_input(const Tensor& images, const TrainConfig& config);

// Evaluates the model (eval mode, no graph) over a dataset; optionally writes the
// per-sample softmax probabilities [N, C] into *probs (CPU f32).
metrics::ClassificationStats evaluate(nn::Module& model, const data::Dataset& d, const TrainConfig& config,
                                      Device device, int bins = 15, Tensor* probs = nullptr);

}  // namespace engine::app
