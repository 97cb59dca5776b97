#pragma once
// What a checkpoint says about itself, in its safetensors metadata, so that its weights
// can be used with nothing else: by eval_app without config.json, and by another
// framework (docs/CHECKPOINTS.md loads one into PyTorch). Every value is a string; lists
// and objects are JSON text.
//   model, arch, width_mult          the registry name (resnet18, resnet18_moe), model.arch, width
//   num_classes, class_names         class_names: a JSON array, in label order
//   input_shape, input_layout        [C, H, W] of one image; NCHW float32
//   input_transform                  how pixels become inputs (u8 / 255, then per channel (x - mean) / std)
//   normalization_mean, normalization_std   JSON arrays, one value per channel
//   dataset                          data.dataset
//   moe                              the config's moe section (JSON), only for MoE models
//   config                           the whole effective configuration (JSON)
//   engine_version, engine_commit    what wrote it
// The run directory adds epoch, step, best_test_acc, the generator's state and "format".
#include <map>
#include <string>
#include <vector>

#include "apps/common/train_config.h"
#include "data/dataset.h"

namespace engine::app {

std::map<std::string, std::string> model_card(const TrainConfig& config, const data::Dataset& train);

// The configuration a checkpoint carries (metadata "config"), with `sets` applied as
// train_app's --set would. A checkpoint without one (written before checkpoints described
// themselves, or by other software) is a configuration error naming the file and saying
// to pass the run's config.json.
TrainConfig config_from_checkpoint(const std::string& checkpoint, const std::vector<std::string>& sets);

const char* engine_version();
// `git describe --always --dirty` of the source tree when the build was configured.
const char* engine_commit();

}  // namespace engine::app
