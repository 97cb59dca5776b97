// ResNet-18 with MoE blocks: names, initial backbone weights equal to the dense
// model's, parameter counts, shapes for stage and head placements, gradients.
#include <algorithm>

#include "apps/common/moe_tracker.h"
#include "engine/core/generator.h"
#include "models/resnet_moe.h"
#include "test_util.h"

using namespace engine;
namespace moe = engine::nn::moe;

namespace {

models::ResNetMoEConfig small_config(std::vector<std::string> placement, int64_t E, int64_t k) {
  models::ResNetMoEConfig c;
  c.resnet.width_mult = 0.125;
  c.resnet.in_channels = 1;
  c.placement = std::move(placement);
  c.hidden_mult = 2.0;
  c.moe.num_experts = E;
  c.moe.top_k = k;
  c.moe.drop_tokens = true;
  return c;
}

}  // namespace

TEST_CASE("ResNet-18+MoE keeps the backbone's names and initial weights and adds the blocks", "[moe][model]") {
  manual_seed(3);
  models::ResNetMoEConfig cfg = small_config({"layer3", "layer4"}, 4, 1);
  models::ResNet dense(cfg.resnet);
  manual_seed(3);
  models::ResNetMoE net(cfg);
  auto dsd = dense.state_dict(), msd = net.state_dict();
  // The dense model's entries come first, in the same order with the same values.
  REQUIRE(msd.size() > dsd.size());
  for (size_t i = 0; i < dsd.size(); ++i) {
    INFO(dsd[i].first);
    CHECK(msd[i].first == dsd[i].first);
    CHECK(msd[i].second.to_vector() == dsd[i].second.to_vector());
  }
  std::vector<std::string> extra;
  for (size_t i = dsd.size(); i < msd.size(); ++i) extra.push_back(msd[i].first);
  CHECK(extra == std::vector<std::string>{"moe_layer3.norm.weight",
                                          "moe_layer3.norm.bias",
                                          "moe_layer3.norm.running_mean",
                                          "moe_layer3.norm.running_var",
                                          "moe_layer3.norm.num_batches_tracked",
                                          "moe_layer3.moe.router.weight",
                                          "moe_layer3.moe.experts.fc1.weight",
                                          "moe_layer3.moe.experts.fc1.bias",
                                          "moe_layer3.moe.experts.fc2.weight",
                                          "moe_layer3.moe.experts.fc2.bias",
                                          "moe_layer4.norm.weight",
                                          "moe_layer4.norm.bias",
                                          "moe_layer4.norm.running_mean",
                                          "moe_layer4.norm.running_var",
                                          "moe_layer4.norm.num_batches_tracked",
                                          "moe_layer4.moe.router.weight",
                                          "moe_layer4.moe.experts.fc1.weight",
                                          "moe_layer4.moe.experts.fc1.bias",
                                          "moe_layer4.moe.experts.fc2.weight",
                                          "moe_layer4.moe.experts.fc2.bias"});
  // Stage 3 is 32 wide, stage 4 64: experts C -> 2C -> C.
  CHECK(net.after_stage[2]->moe->params.w1.shape() == Shape{4, 32, 64});
  CHECK(net.after_stage[3]->moe->params.w2.shape() == Shape{4, 128, 64});
  CHECK_FALSE(net.after_stage[0]);
  CHECK_FALSE(net.head);
  // Parameters: dense + per block BN (2C) + router (E C) + E experts (2 C H + H + C).
  auto block = [](int64_t C) { return 2 * C + 4 * C + 4 * (2 * C * 2 * C + 2 * C + C); };
  CHECK(net.num_parameters() == dense.num_parameters() + block(32) + block(64));
  CHECK(net.active_parameters() == net.num_parameters() - 3 * (2 * 32 * 64 + 64 + 32) - 3 * (2 * 64 * 128 + 128 + 64));
  app::MoeTracker tracker(net);
  CHECK(tracker.active_parameters(net.num_parameters()) == net.active_parameters());
  REQUIRE(tracker.layers().size() == 2);
  CHECK(tracker.layers()[0].first == "moe_layer3.moe");
}

TEST_CASE("ResNet-18+MoE forward and backward: stage blocks on spatial tokens and a head block", "[moe][model]") {
  manual_seed(4);
  models::ResNetMoE net(small_config({"layer2", "head"}, 3, 2));
  Tensor x = ops::randn({4, 1, 28, 28}, 5, 0), labels = Tensor::from_vector({0, 1, 2, 1}, {4}, DType::i64);
  app::MoeTracker tracker(net);
  tracker.set_labels(labels, 10);
  Variable logits = net(Variable(x));
  CHECK(logits.shape() == Shape{4, 10});
  Variable loss = ag::add(ag::cross_entropy(logits, labels), tracker.aux_loss());
  loss.backward();
  // Layer 2 runs at 14x14 on 28x28 inputs: 4 * 196 tokens, 2 slots each; the head sees 4 tokens.
  const moe::MoEStats& s2 = net.after_stage[1]->moe->last_stats();
  CHECK(s2.tokens == 4 * 14 * 14);
  CHECK(s2.slots == 2 * 4 * 14 * 14);
  int64_t table = 0;
  for (int64_t v : s2.expert_class) table += v;
  CHECK(table == s2.slots);
  for (int64_t c = 3; c < 10; ++c)
    for (int64_t e = 0; e < 3; ++e) CHECK(s2.expert_class[size_t(e * 10 + c)] == 0);  // labels 0..2 only
  CHECK(net.head->moe->last_stats().tokens == 4);
  // Every parameter of the router and of the experts that received rows has a gradient.
  for (auto& [n, p] : net.named_parameters()) {
    INFO(n);
    if (n.find("router") != std::string::npos || n.find("fc1.weight") != std::string::npos) {
      REQUIRE(p.has_grad());
      CHECK(ops::sum(ops::mul(p.grad(), p.grad())).item() > 0);
    }
  }
  tracker.record_step(tracker.aux_loss().item());
  std::vector<double> m = tracker.epoch_metrics();
  REQUIRE(m.size() == app::MoeTracker::metric_columns().size());
  CHECK(m[0] > 0);                 // aux loss added
  CHECK(m[1] >= 0.99);             // the balance loss is at least ~1
  CHECK(m[3] >= 1.0 / 3 - 1e-12);  // some expert takes at least the even share
  CHECK(m[4] <= 1.0 + 1e-12);
  // Bad placements are errors.
  models::ResNetMoEConfig bad = small_config({"layer5"}, 2, 1);
  CHECK_THROWS_WITH(models::ResNetMoE(bad), Catch::Contains("unknown placement \"layer5\""));
}
