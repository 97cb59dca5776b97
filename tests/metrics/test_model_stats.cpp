// Parameters and MACs per layer: a hand-sized network, ResNet-18's totals against
// counts written out from the architecture, and the MoE extension points.
#include "metrics/model_stats.h"
#include "models/resnet.h"
#include "models/resnet_moe.h"
#include "test_util.h"

using namespace engine;

namespace {

// Two layers whose parameters count as partly used, for the active-parameters rule.
class HalfUsed : public nn::Module {
 public:
  HalfUsed() { lin = register_module("lin", std::make_shared<nn::Linear>(4, 4)); }
  std::string type_name() const override { return "HalfUsedForTest"; }
  std::shared_ptr<nn::Linear> lin;

 protected:
  Variable forward_impl(const Variable& x) override { return (*lin)(x); }
};

}  // namespace

TEST_CASE("model_stats counts a small network's parameters and MACs by hand", "[metrics]") {
  auto net = std::make_shared<nn::Sequential>();
  net->add(std::make_shared<nn::Conv2d>(3, 8, 3, 2, 1, false));  // 8x3x3x3 = 216 params, out 8x4x4
  net->add(std::make_shared<nn::BatchNorm2d>(8));                // 16 params, no MACs counted
  net->add(std::make_shared<nn::ReLU>());
  net->add(std::make_shared<nn::GlobalAvgPool>());
  net->add(std::make_shared<nn::Linear>(8, 5));  // 40 + 5 params, 40 MACs
  metrics::ModelStats s = metrics::model_stats(*net, {3, 8, 8});
  REQUIRE(s.layers.size() == 3);
  CHECK(s.layers[0].name == "0");
  CHECK(s.layers[0].type == "Conv2d");
  CHECK(s.layers[0].params == 216);
  CHECK(s.layers[0].macs == 8 * 4 * 4 * 27);
  CHECK(s.layers[0].output == Shape{1, 8, 4, 4});
  CHECK(s.layers[1].name == "1");
  CHECK(s.layers[1].params == 16);
  CHECK(s.layers[1].macs == 0);
  CHECK(s.layers[2].name == "4");
  CHECK(s.layers[2].macs == 40);
  CHECK(s.total_params == 216 + 16 + 45);
  CHECK(s.total_params == net->num_parameters());
  CHECK(s.active_params == s.total_params);
  CHECK(s.macs == 8 * 4 * 4 * 27 + 40);
  CHECK(s.flops() == 2 * s.macs);
  CHECK(net->is_training());  // the mode is restored
  std::string csv = metrics::model_stats_csv(s);
  CHECK(csv.find("0,Conv2d,216,3456,1x8x4x4\n") != std::string::npos);
  CHECK(csv.find("total,,277,3496,\n") != std::string::npos);
}

TEST_CASE("ResNet-18 for CIFAR-10: 11173962 parameters and the MACs of its convolutions", "[metrics]") {
  models::ResNetConfig rc;
  models::ResNet net(rc);
  metrics::ModelStats s = metrics::model_stats(net, {3, 32, 32});
  CHECK(s.total_params == 11173962);
  CHECK(s.active_params == 11173962);
  // Stem 3->64 at 32x32; stages of two blocks at 32, 16, 8, 4 pixels with widths 64..512;
  // 1x1 downsample convolutions entering stages 2-4; fc 512 -> 10.
  int64_t macs = 32 * 32 * 64 * 3 * 9;
  int64_t width[4] = {64, 128, 256, 512}, side[4] = {32, 16, 8, 4};
  for (int st = 0; st < 4; ++st) {
    int64_t in = st == 0 ? 64 : width[st - 1], c = width[st], hw = side[st] * side[st];
    macs += hw * c * in * 9 + hw * c * c * 9;  // block 0
    if (st > 0) macs += hw * c * in;           // its downsample
    macs += 2 * hw * c * c * 9;                // block 1
  }
  macs += 512 * 10;
  CHECK(s.macs == macs);
  CHECK(metrics::human_count(double(s.flops())) == "1.11G");
  bool found = false;
  for (const auto& l : s.layers)
    if (l.name == "layer2.0.downsample.0") {
      found = true;
      CHECK(l.macs == 16 * 16 * 128 * 64);
      CHECK(l.params == 128 * 64);
    }
  CHECK(found);
}

TEST_CASE("model_stats extension points: active-parameter rules per module type", "[metrics]") {
  auto net = std::make_shared<nn::Sequential>();
  net->add(std::make_shared<HalfUsed>());
  net->add(std::make_shared<nn::Linear>(4, 2));
  metrics::ModelStats dense = metrics::model_stats(*net, {4});
  CHECK(dense.total_params == 20 + 10);
  CHECK(dense.active_params == 30);
  metrics::set_active_params_rule("HalfUsedForTest", [](const nn::Module&) { return int64_t(10); });
  metrics::ModelStats moe = metrics::model_stats(*net, {4});
  CHECK(moe.total_params == 30);
  CHECK(moe.active_params == 10 + 10);
  CHECK(moe.macs == 16 + 8);
  metrics::set_active_params_rule("HalfUsedForTest", nullptr);
}

TEST_CASE("model_stats of ResNet-18 with an MoE block: active parameters and per-token expert work", "[metrics]") {
  models::ResNetMoEConfig mc;
  mc.resnet.width_mult = 0.125;
  mc.placement = {"layer4"};
  mc.moe.num_experts = 4;
  mc.moe.top_k = 1;
  mc.moe.router.num_experts = 4;
  models::ResNetMoE net(mc);
  metrics::ModelStats s = metrics::model_stats(net, {3, 32, 32});
  CHECK(s.total_params == net.num_parameters());
  CHECK(s.active_params == net.active_parameters());
  CHECK(s.active_params < s.total_params);
  // layer4 runs at 4x4 pixels: 16 tokens, each through the router and one expert.
  const nn::moe::MoELayer& layer = *net.after_stage[3]->moe;
  bool found = false;
  for (const auto& l : s.layers)
    if (l.name == "moe_layer4.moe") {
      found = true;
      CHECK(l.type == "MoELayer");
      CHECK(l.params == layer.num_parameters());
      CHECK(l.macs == 16 * layer.flops_per_token() / 2);
    }
  CHECK(found);
}
