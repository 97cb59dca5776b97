#pragma once
// Evaluation of a model in batches of a given size, for the tests that show an MoE
// model's predictions do not depend on which images share a batch.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "models/resnet_moe.h"

namespace engine::testing {

struct BatchedEval {
  Tensor logits;                   // [N, classes] on the CPU, in the model's dtype
  std::vector<int64_t> classes;    // argmax per image (ties: the first class)
  int64_t slots = 0, dropped = 0;  // over every MoE layer and batch
};

// The model in eval mode (no graph) over images [N, ...] in batches of `batch` (the last
// one smaller when batch does not divide N), on `device`.
BatchedEval eval_in_batches(nn::Module& model, const Tensor& images, int64_t batch, Device device);

// The model an app builds from a configuration file (with `sets` applied, e.g.
// "moe.eval_capacity_factor=1.25") for images of `channels` channels and 10 classes.
std::shared_ptr<nn::Module> model_from_config(const std::string& config_path, int64_t channels,
                                              const std::vector<std::string>& sets = {});

// Casts a module's floating parameters and buffers to f64, in place.
void module_to_f64(nn::Module& m);

}  // namespace engine::testing
