#pragma once
// eval_app --corruptions: accuracy, NLL and ECE of a model under every CIFAR-C style
// corruption (data/corruptions.h) at every severity, written to corruptions.csv and
// printed, with an example grid and curves over severity in <out_dir>/plots/.
#include <cstdint>
#include <string>
#include <vector>

#include "apps/common/evaluation.h"
#include "apps/common/train_config.h"
#include "data/dataset.h"
#include "engine/io/config.h"
#include "engine/nn/module.h"

namespace engine::app {

struct CorruptionOptions {
  int bins = 15;      // calibration bins
  uint64_t seed = 0;  // of the corruptions' random draws
  bool plots = true;
  int64_t images = 0;  // the first this many test images; 0: all
};

// `clean`: the model's summary on the whole test set (reused when images is 0). Returns
// eval.json's "corruptions" object; the plots' paths are appended to *plots.
io::Json run_corruptions(nn::Module& model, const data::Dataset& test, const TrainConfig& cfg, Device device,
                         const CorruptionOptions& opt, const EvalSummary& clean, const std::string& out_dir,
                         std::vector<std::string>* plots);

}  // namespace engine::app
