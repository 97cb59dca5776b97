// MoE evaluation does not depend on which images share a batch: dropless by default, so
// a token's output is a function of that token alone (layer) and an image's prediction
// a function of that image alone (ResNet-18+MoE at eval batch sizes 1, 7 and 500, in
// f64). moe.eval_capacity_factor restores capacity-limited evaluation, which drops as
// configured and therefore does depend on the batch.
#include <algorithm>

#include "apps/common/moe_tracker.h"
#include "batched_eval.h"
#include "engine/core/generator.h"
#include "engine/nn/moe/moe_layer.h"
#include "test_util.h"

using namespace engine;
using namespace engine::testing;
namespace moe = engine::nn::moe;

namespace {

const std::string kQuickstartMoe = std::string(ENGINE_SOURCE_DIR) + "/configs/quickstart_moe_fashion_mnist.json";

moe::MoEOptions dropping_options(int64_t k) {
  moe::MoEOptions o;
  o.dim = 6;
  o.hidden = 8;
  o.num_experts = 4;
  o.top_k = k;
  o.router.renormalize = k > 1;
  o.drop_tokens = true;
  o.capacity_factor = 0.5;  // at least half of the slots dropped in training
  o.dtype = DType::f64;
  return o;
}

// The layer's eval output for x [T, C], run over consecutive groups of `group` tokens.
Tensor eval_in_groups(moe::MoELayer& layer, const Tensor& x, int64_t group, int64_t* dropped) {
  NoGradGuard ng;
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < x.size(0); i += group) {
    parts.push_back(layer(Variable(x.slice(0, i, std::min(x.size(0), i + group)).contiguous())).data());
    *dropped += layer.last_stats().dropped;
  }
  return ops::concat(parts, 0);
}

}  // namespace

TEST_CASE("moe layer evaluation is dropless by default: a token's output does not depend on its batch", "[moe]") {
  for (int64_t k : {1, 2}) {
    INFO("top_k " << k);
    manual_seed(uint64_t(20 + k));
    moe::MoELayer layer(dropping_options(k));
    Tensor x = randn64({40, 6}, 70 + uint64_t(k));
    // Training drops (the premise): capacity ceil(0.5 * 40 k / 4) per expert.
    layer.train();
    layer(Variable(x));
    CHECK(layer.last_stats().dropped >= 20 * k);
    CHECK(moe::moe_layer_capacity(layer.options(), true, 40) == ops::moe_capacity(0.5, 40, k, 4));
    CHECK(moe::moe_layer_capacity(layer.options(), false, 40) == -1);
    layer.eval();
    int64_t dropped = 0;
    Tensor all = eval_in_groups(layer, x, 40, &dropped);
    for (int64_t group : {1, 7}) {
      INFO("group " << group);
      Tensor parts = eval_in_groups(layer, x, group, &dropped);
      CHECK(normalized_error(parts, all) < 1e-14);
    }
    CHECK(dropped == 0);
  }
}

TEST_CASE("moe layer with eval_capacity_factor drops in evaluation as configured", "[moe]") {
  manual_seed(31);
  moe::MoEOptions o = dropping_options(1);
  o.drop_tokens = false;  // the evaluation capacity applies whatever training did
  o.eval_capacity_factor = 0.75;
  moe::MoELayer layer(o);
  Tensor x = randn64({40, 6}, 80);
  layer.train();
  layer(Variable(x));
  CHECK(layer.last_stats().dropped == 0);
  layer.eval();
  NoGradGuard ng;
  Tensor y = layer(Variable(x)).data();
  const moe::MoEStats& s = layer.last_stats();
  const int64_t cap = ops::moe_capacity(0.75, 40, 1, 4);
  CHECK(moe::moe_layer_capacity(layer.options(), false, 40) == cap);
  int64_t want = 0;
  for (int64_t e = 0; e < 4; ++e) {
    CHECK(s.kept_counts[size_t(e)] == std::min(s.counts[size_t(e)], cap));
    want += std::max<int64_t>(0, s.counts[size_t(e)] - cap);
  }
  REQUIRE(want > 0);
  CHECK(s.dropped == want);
  // A dropped token (top-1) gets zero from the layer.
  int64_t zero_rows = 0;
  for (int64_t t = 0; t < 40; ++t) {
    std::vector<double> row = y.select(0, t).to_vector();
    zero_rows += std::all_of(row.begin(), row.end(), [](double v) { return v == 0.0; });
  }
  CHECK(zero_rows == want);
  // And so the output depends on the batch: token by token, nothing is dropped.
  int64_t dropped = 0;
  Tensor single = eval_in_groups(layer, x, 1, &dropped);
  CHECK(dropped == 0);
  CHECK(normalized_error(single, y) > 1e-3);
  // Out of range is refused.
  o.eval_capacity_factor = 0.0;
  CHECK_THROWS_WITH(moe::MoELayer(o), Catch::Contains("eval_capacity_factor = 0"));
}

TEST_CASE("ResNet-18+MoE eval predictions are identical at eval batch sizes 1, 7 and 500 (f64, CPU)", "[moe][model]") {
  manual_seed(7);
  auto model = model_from_config(kQuickstartMoe, 1);  // the quickstart's config: no eval_capacity_factor key
  module_to_f64(*model);
  Tensor images = randn64({500, 1, 28, 28}, 90);
  BatchedEval ref = eval_in_batches(*model, images, 500, Device::cpu());
  CHECK(ref.dropped == 0);
  for (int64_t batch : {1, 7}) {
    INFO("eval batch " << batch);
    BatchedEval b = eval_in_batches(*model, images, batch, Device::cpu());
    CHECK(b.dropped == 0);
    CHECK(b.slots == ref.slots);
    CHECK(b.classes == ref.classes);
    CHECK(normalized_error(b.logits, ref.logits) < 1e-12);
  }
}

TEST_CASE("ResNet-18+MoE with moe.eval_capacity_factor evaluates capacity-limited, batch-dependent", "[moe][model]") {
  manual_seed(7);
  auto model = model_from_config(kQuickstartMoe, 1, {"moe.eval_capacity_factor=1.25"});
  module_to_f64(*model);
  Tensor images = randn64({100, 1, 28, 28}, 90);
  BatchedEval big = eval_in_batches(*model, images, 100, Device::cpu());
  BatchedEval small = eval_in_batches(*model, images, 1, Device::cpu());
  // The same slots, dropped at both sizes, but not the same ones: the logits differ.
  CHECK(big.slots == small.slots);
  CHECK(big.dropped > 0);
  CHECK(small.dropped > 0);
  CHECK(normalized_error(small.logits, big.logits) > 1e-6);
  for (const auto& [name, l] : moe::find_moe_layers(*model)) CHECK(l->options().eval_capacity_factor == 1.25);
}

TEST_CASE("moe_options carries the evaluation capacity: unset (dropless) unless configured", "[moe]") {
  app::TrainConfig c;
  CHECK_FALSE(app::moe_options(c.moe).eval_capacity_factor);
  c.moe.eval_capacity_factor = 2.0;
  CHECK(app::moe_options(c.moe).eval_capacity_factor == 2.0);
}
