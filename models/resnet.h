#pragma once
// ResNet-18 for small images (CIFAR's 3x3 stem, no max-pool), with torchvision's
// parameter names so that a checkpoint loads into torchvision.models.resnet18
// (after replacing its stem and fc to the same shapes) with no renaming.
#include <memory>
#include <string>

#include "engine/nn/layers.h"

namespace engine::models {

struct ResNetConfig {
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  double width_mult = 1.0;  // stage widths 64, 128, 256, 512 times this
  std::vector<int64_t> blocks = {2, 2, 2, 2};
  bool zero_init_residual = false;  // each block's last BN scale starts at 0
  bool channels_last = false;       // run on channels-last activations (the input is converted)
  // Stages (1..4) run under activation checkpointing in training: their activations
  // are recomputed in the backward pass instead of kept (ag::checkpoint).
  std::vector<int64_t> checkpoint_stages;
};

// Runs one stage, under ag::checkpoint when `checkpointed`.
Variable run_stage(nn::Sequential& stage, const Variable& x, bool checkpointed);

class BasicBlock : public nn::Module {
 public:
  BasicBlock(int64_t in, int64_t out, int64_t stride);
  std::string type_name() const override { return "BasicBlock"; }
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  std::shared_ptr<nn::Sequential> downsample;  // 1x1 conv + BN, or null

 protected:
  Variable forward_impl(const Variable& x) override;
};

class ResNet : public nn::Module {
 public:
  explicit ResNet(const ResNetConfig& cfg);
  std::string type_name() const override { return "ResNet"; }
  const ResNetConfig& config() const { return cfg_; }
  // The pooled features [N, C] before fc, for heads and analysis.
  Variable features(const Variable& x);
  bool stage_checkpointed(size_t stage) const;  // stage 0..3

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::vector<std::shared_ptr<nn::Sequential>> layers;  // layer1..layer4
  std::shared_ptr<nn::Linear> fc;

 protected:
  void check_input(const Variable& x) const override;
  Variable forward_impl(const Variable& x) override;

 private:
  ResNetConfig cfg_;
};

}  // namespace engine::models
