#include "models/resnet.h"

#include <algorithm>
#include <cmath>

#include "engine/nn/init.h"

namespace engine::models {
namespace {

std::shared_ptr<nn::Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride) {
  auto c = std::make_shared<nn::Conv2d>(in, out, k, stride, k / 2, false);
  c->weight.data() = nn::init::kaiming_normal_fan_out(c->weight.shape());
  return c;
}

}  // namespace

BasicBlock::BasicBlock(int64_t in, int64_t out, int64_t stride) {
  conv1 = register_module("conv1", conv(in, out, 3, stride));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(out));
  conv2 = register_module("conv2", conv(out, out, 3, 1));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(out));
  if (stride != 1 || in != out) {
    downsample = std::make_shared<nn::Sequential>();
    downsample->add(conv(in, out, 1, stride)).add(std::make_shared<nn::BatchNorm2d>(out));
    register_module("downsample", downsample);
  }
}

// relu(bn1(conv1 x)) and relu(bn2(conv2 h) + identity) each run as one fused op
// (BatchNorm2d::forward_act); the downsample's BN stays plain.
Variable BasicBlock::forward_impl(const Variable& x) {
  Variable h = bn1->forward_act((*conv1)(x), Variable(), true);
  Variable identity = downsample ? (*downsample)(x) : x;
  return bn2->forward_act((*conv2)(h), identity, true);
}

Variable run_stage(nn::Sequential& stage, const Variable& x, bool checkpointed) {
  if (!checkpointed) return stage(x);
  nn::Sequential* s = &stage;
  return ag::checkpoint([s](const std::vector<Variable>& in) { return (*s)(in[0]); }, {x}, stage.parameters());
}

ResNet::ResNet(const ResNetConfig& cfg) : cfg_(cfg) {
  ENGINE_CHECK(cfg.in_channels >= 1 && cfg.num_classes >= 2 && cfg.width_mult > 0 && cfg.blocks.size() == 4,
               "ResNet: bad configuration (in_channels " << cfg.in_channels << ", classes " << cfg.num_classes
                                                         << ", width " << cfg.width_mult << ")");
  for (int64_t s : cfg.checkpoint_stages)
    ENGINE_CHECK(s >= 1 && s <= 4, "ResNet: checkpoint stage " << s << " is not one of 1..4");
  auto width = [&](int64_t base) { return std::max<int64_t>(1, int64_t(std::llround(double(base) * cfg.width_mult))); };
  int64_t c = width(64);
  conv1 = register_module("conv1", conv(cfg.in_channels, c, 3, 1));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(c));
  const int64_t bases[4] = {64, 128, 256, 512};
  for (int s = 0; s < 4; ++s) {
    auto stage = std::make_shared<nn::Sequential>();
    int64_t out = width(bases[s]);
    for (int64_t b = 0; b < cfg.blocks[size_t(s)]; ++b) {
      auto block = std::make_shared<BasicBlock>(c, out, b == 0 && s > 0 ? 2 : 1);
      if (cfg.zero_init_residual) block->bn2->weight.data().zero_();
      stage->add(block);
      c = out;
    }
    layers.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  fc = register_module("fc", std::make_shared<nn::Linear>(c, cfg.num_classes));
}

void ResNet::check_input(const Variable& x) const {
  ENGINE_CHECK(
      x.dim() == 4 && x.size(1) == cfg_.in_channels && x.size(2) >= 8 && x.size(3) >= 8,
      "ResNet: expected images [N, " << cfg_.in_channels << ", H, W] with H, W >= 8, got " << shape_str(x.shape()));
}

bool ResNet::stage_checkpointed(size_t stage) const {
  return std::find(cfg_.checkpoint_stages.begin(), cfg_.checkpoint_stages.end(), int64_t(stage) + 1) !=
         cfg_.checkpoint_stages.end();
}

Variable ResNet::features(const Variable& x) {
  const Variable in = cfg_.channels_last ? ag::contiguous(x, MemoryFormat::ChannelsLast) : x;
  Variable h = bn1->forward_act((*conv1)(in), Variable(), true);  // relu(bn1(conv1 x)) as one op
  for (size_t s = 0; s < layers.size(); ++s) h = run_stage(*layers[s], h, stage_checkpointed(s));
  return ag::global_avgpool(h);
}

Variable ResNet::forward_impl(const Variable& x) { return (*fc)(features(x)); }

}  // namespace engine::models
