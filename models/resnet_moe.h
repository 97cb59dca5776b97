#pragma once
// ResNet-18 with Mixture-of-Experts blocks. The backbone is models/resnet.h's, with the
// same parameter names and the same initial weights for a seed (it is built first);
// MoE blocks come after the stages named in `placement` ("layer1".."layer4": on the
// spatial tokens, channels-last rows, T = N*H*W) and/or on the pooled features before
// the classifier ("head": T = N). Each block is pre-norm residual: y = x + MoE(BN(x)),
// so a dropped token passes through unchanged.
//
// Parameter names: the ResNet's, plus per block "moe_<placement>.norm.*" (BatchNorm2d)
// and "moe_<placement>.moe.*" (MoELayer: router.weight, experts.fc1.weight, ...).
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/moe/moe_layer.h"
#include "models/resnet.h"

namespace engine::models {

struct ResNetMoEConfig {
  ResNetConfig resnet;
  std::vector<std::string> placement;  // e.g. {"layer3", "layer4"}, {"head"}
  double hidden_mult = 2.0;            // expert hidden width H = hidden_mult * C
  nn::moe::MoEOptions moe;             // dim and hidden are set per block
};

class MoEBlock : public nn::Module {
 public:
  MoEBlock(int64_t channels, int64_t hidden, const nn::moe::MoEOptions& o);
  std::string type_name() const override { return "MoEBlock"; }
  std::shared_ptr<nn::BatchNorm2d> norm;
  std::shared_ptr<nn::moe::MoELayer> moe;

 protected:
  void check_input(const Variable& x) const override;
  // x [N, C, H, W] or [N, C].
  Variable forward_impl(const Variable& x) override;
};

class ResNetMoE : public nn::Module {
 public:
  explicit ResNetMoE(const ResNetMoEConfig& cfg);
  std::string type_name() const override { return "ResNetMoE"; }
  const ResNetMoEConfig& config() const { return cfg_; }

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::vector<std::shared_ptr<nn::Sequential>> layers;  // layer1..layer4
  std::shared_ptr<nn::Linear> fc;
  std::vector<std::shared_ptr<MoEBlock>> after_stage;  // [4]: null where none
  std::shared_ptr<MoEBlock> head;                      // or null

  // Parameters used by one token: all but the (E - k) unchosen experts of each block.
  int64_t active_parameters() const;

 protected:
  void check_input(const Variable& x) const override;
  Variable forward_impl(const Variable& x) override;

 private:
  ResNetMoEConfig cfg_;
};

}  // namespace engine::models
