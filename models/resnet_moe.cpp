#include "models/resnet_moe.h"

#include <algorithm>
#include <cmath>

namespace engine::models {
namespace {

const char* const kStages[4] = {"layer1", "layer2", "layer3", "layer4"};

}  // namespace

MoEBlock::MoEBlock(int64_t channels, int64_t hidden, const nn::moe::MoEOptions& o) {
  nn::moe::MoEOptions mo = o;
  mo.dim = channels;
  mo.hidden = hidden;
  norm = register_module("norm", std::make_shared<nn::BatchNorm2d>(channels));
  moe = register_module("moe", std::make_shared<nn::moe::MoELayer>(mo));
}

void MoEBlock::check_input(const Variable& x) const {
  ENGINE_CHECK((x.dim() == 4 || x.dim() == 2) && x.size(1) == norm->channels,
               "MoEBlock: expected [N, " << norm->channels << ", H, W] or [N, " << norm->channels << "], got "
                                         << shape_str(x.shape()));
}

Variable MoEBlock::forward_impl(const Variable& x) {
  if (x.dim() == 2) {
    const int64_t N = x.size(0), C = x.size(1);
    Variable h = ag::reshape((*norm)(ag::reshape(x, {N, C, 1, 1})), {N, C});
    return ag::add(x, (*moe)(h));
  }
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  // Channels-last rows: token n*H*W + h*W + w is pixel (h, w) of image n.
  Variable tokens = ag::reshape(ag::permute((*norm)(x), {0, 2, 3, 1}), {N * H * W, C});
  Variable y = ag::permute(ag::reshape((*moe)(tokens), {N, H, W, C}), {0, 3, 1, 2});
  return ag::add(x, y);
}

ResNetMoE::ResNetMoE(const ResNetMoEConfig& cfg) : cfg_(cfg) {
  ENGINE_CHECK(cfg.hidden_mult > 0, "ResNetMoE: hidden_mult = " << cfg.hidden_mult << ", expected > 0");
  for (const std::string& p : cfg.placement)
    ENGINE_CHECK(p == "head" || std::find(std::begin(kStages), std::end(kStages), p) != std::end(kStages),
                 "ResNetMoE: unknown placement \"" << p << "\" (expected layer1..layer4 or head)");
  // The backbone first, so that it draws the same initial weights as the dense ResNet.
  ResNet backbone(cfg.resnet);
  conv1 = register_module("conv1", backbone.conv1);
  bn1 = register_module("bn1", backbone.bn1);
  for (int s = 0; s < 4; ++s) layers.push_back(register_module(kStages[s], backbone.layers[size_t(s)]));
  fc = register_module("fc", backbone.fc);
  after_stage.resize(4);
  auto placed = [&](const std::string& name) {
    return std::find(cfg.placement.begin(), cfg.placement.end(), name) != cfg.placement.end();
  };
  auto hidden = [&](int64_t c) { return std::max<int64_t>(1, int64_t(std::llround(cfg.hidden_mult * double(c)))); };
  for (int s = 0; s < 4; ++s) {
    if (!placed(kStages[s])) continue;
    // A stage's width is its last block's output channels.
    auto* last = dynamic_cast<BasicBlock*>(layers[size_t(s)]->named_children().back().second.get());
    ENGINE_CHECK(last, "ResNetMoE: stage " << kStages[s] << " has no BasicBlock");
    int64_t c = last->bn2->channels;
    after_stage[size_t(s)] =
        register_module(std::string("moe_") + kStages[s], std::make_shared<MoEBlock>(c, hidden(c), cfg.moe));
  }
  if (placed("head")) {
    int64_t c = fc->in_features;
    head = register_module("moe_head", std::make_shared<MoEBlock>(c, hidden(c), cfg.moe));
  }
}

int64_t ResNetMoE::active_parameters() const {
  int64_t active = num_parameters();
  for (const auto& b : after_stage)
    if (b) active -= b->moe->inactive_parameters();
  if (head) active -= head->moe->inactive_parameters();
  return active;
}

void ResNetMoE::check_input(const Variable& x) const {
  ENGINE_CHECK(x.dim() == 4 && x.size(1) == cfg_.resnet.in_channels && x.size(2) >= 8 && x.size(3) >= 8,
               "ResNetMoE: expected images [N, " << cfg_.resnet.in_channels << ", H, W] with H, W >= 8, got "
                                                 << shape_str(x.shape()));
}

Variable ResNetMoE::forward_impl(const Variable& x) {
  const Variable in = cfg_.resnet.channels_last ? ag::contiguous(x, MemoryFormat::ChannelsLast) : x;
  Variable h = bn1->forward_act((*conv1)(in), Variable(), true);  // relu(bn1(conv1 x)) as one op
  for (int s = 0; s < 4; ++s) {
    const std::vector<int64_t>& ck = cfg_.resnet.checkpoint_stages;
    h = run_stage(*layers[size_t(s)], h, std::find(ck.begin(), ck.end(), int64_t(s) + 1) != ck.end());
    if (after_stage[size_t(s)]) h = (*after_stage[size_t(s)])(h);
  }
  Variable f = ag::global_avgpool(h);
  if (head) f = (*head)(f);
  return (*fc)(f);
}

}  // namespace engine::models
