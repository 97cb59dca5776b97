// Test-time augmentation in evaluation (app::evaluate_logits with average_hflip, eval_app
// --tta-hflip): each image's logits become the log of the mean of its and its mirror
// image's class probabilities. Such an evaluation cannot tell an image from its mirror
// image; the plain one can (the check can fail). Untrained ResNet-18 x 1/16 on 64
// Fashion-MNIST test images.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "apps/common/evaluation.h"
#include "apps/common/run_setup.h"
#include "apps/common/train_config.h"
#include "engine/core/generator.h"
#include "engine/ops/functional.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return ops::max(ops::maximum(ops::sub(a, b), ops::sub(b, a))).item();
}

// The dataset with every image mirrored left to right (a copy).
data::Dataset mirrored(const data::Dataset& d) {
  data::Dataset m = d;
  m.images = d.images.contiguous().clone();
  const int64_t W = d.width(), rows = d.images.numel() / W;
  const Tensor source = d.images.contiguous();
  const uint8_t* from = source.data<uint8_t>();
  uint8_t* to = m.images.data<uint8_t>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t x = 0; x < W; ++x) to[r * W + x] = from[r * W + W - 1 - x];
  return m;
}

}  // namespace

TEST_CASE("evaluation with mirror-image averaging cannot tell an image from its mirror image", "[e2e]") {
  std::string dir = testing::fresh_scratch_dir("evaluation_tta");
  std::ofstream(dir + "/c.json") << R"({"device": "cpu", "seed": 3,
    "data": {"dataset": "fashion_mnist", "train_limit": 64, "test_limit": 64, "prefetch": false},
    "model": {"arch": "resnet18", "width_mult": 0.0625}, "training": {"eval_batch_size": 24}})";
  app::TrainConfig c = app::load_train_config(dir + "/c.json", {}, nullptr);
  app::Datasets ds = app::load_datasets(c);
  manual_seed(c.seed);
  auto model = app::build_model(c, ds.train);
  data::Dataset flipped = mirrored(ds.test);

  app::EvalOutput plain = app::evaluate_logits(*model, ds.test, c, Device::cpu());
  app::EvalOutput plain_flipped = app::evaluate_logits(*model, flipped, c, Device::cpu());
  app::EvalOutput tta = app::evaluate_logits(*model, ds.test, c, Device::cpu(), {}, true);
  app::EvalOutput tta_flipped = app::evaluate_logits(*model, flipped, c, Device::cpu(), {}, true);
  REQUIRE(tta.size() == 64);
  CHECK(max_abs_diff(tta.logits, tta_flipped.logits) < 1e-5);
  CHECK(max_abs_diff(plain.logits, plain_flipped.logits) > 1e-3);
  // The averaged probabilities, from the two plain passes.
  Tensor want = ops::log(ops::mul(ops::add(ops::softmax(plain.logits, 1), ops::softmax(plain_flipped.logits, 1)), 0.5));
  CHECK(max_abs_diff(tta.logits, want) < 1e-5);
  // Rows of probabilities: exp(logits) sums to 1.
  Tensor sums = ops::sum(ops::exp(tta.logits), {1});
  CHECK(max_abs_diff(sums, Tensor::full({64}, 1.0)) < 1e-5);
}
