#pragma once
// What the apps build from a TrainConfig: the device, the datasets (data/registry.h)
// and the model (models/registry.h), and the plain evaluation pass of the trainer.
#include <memory>
#include <string>

#include "apps/common/train_config.h"
#include "data/class_descriptions.h"
#include "data/dataset.h"
#include "data/registry.h"
#include "engine/nn/module.h"
#include "metrics/classification.h"
#include "models/registry.h"

namespace engine::app {

struct Datasets {
  data::Dataset train, test, val;  // val: held out of train when data.val_size > 0
  // Class ids of data.holdout_classes, in the order named: their images are in neither
  // train nor val (the test set keeps every class).
  std::vector<int64_t> holdout_classes;
};
data::DatasetSpec dataset_spec(const TrainConfig& config);
// The config's dataset with data.train_limit, data.test_limit, data.holdout_classes and
// data.val_size applied, in that order.
Datasets load_datasets(const TrainConfig& config);
Device resolve_device(const std::string& name);

// The multimodal model's class descriptions (multimodal.descriptions, or the dataset's
// file under configs/labels/ found from the working directory or beside the build
// folder), checked against the training set's classes.
std::string descriptions_path(const TrainConfig& config);
data::ClassDescriptions class_descriptions(const TrainConfig& config, const data::Dataset& train);
// The text encoder's folder: multimodal.text_encoder, $ENGINE_TEXT_ENCODER_DIR, or
// build/text_encoder (from the working directory or beside the executable).
std::string text_encoder_dir(const TrainConfig& config);

// The registry name of the config's model: model.arch, with "_moe" when moe.placement
// is not empty.
std::string model_name(const TrainConfig& config);
// The model for images of the training set's shape and classes.
std::shared_ptr<nn::Module> build_model(const TrainConfig& config, const data::Dataset& train);
// A batch of images as the model takes it: converted to channels-last (once per batch)
// when model.channels_last is set, else unchanged.
Tensor model_input(const Tensor& images, const TrainConfig& config);

// Evaluates the model (eval mode, no graph) over a dataset; optionally writes the
// per-sample softmax probabilities [N, C] into *probs (CPU f32).
metrics::ClassificationStats evaluate(nn::Module& model, const data::Dataset& d, const TrainConfig& config,
                                      Device device, int bins = 15, Tensor* probs = nullptr);

}  // namespace engine::app
