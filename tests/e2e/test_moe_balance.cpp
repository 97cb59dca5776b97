// Mixture of experts end to end on real Fashion-MNIST (CPU): the load-balance loss
// spreads the tokens of a router that starts collapsed onto one expert, and a
// train_app run writes the MoE columns and files into its run directory.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/common/moe_tracker.h"
#include "apps/common/trainer.h"
#include "data/loader.h"
#include "data/registry.h"
#include "engine/core/generator.h"
#include "engine/optim/optimizer.h"
#include "models/resnet_moe.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

struct BalanceRun {
  double start_max_frac = 0, end_max_frac = 0;  // means over the first and the last 10 steps
  double end_lb = 0;
};

// A small ResNet-18+MoE (width 1/8, 4 experts top-1, dropless, after layer3) whose
// router starts collapsed: the MoE block's norm shifts channel 0 by +2 and the router
// scores expert 0 by that channel, so expert 0 wins nearly every token. Then `steps`
// SGD steps on Fashion-MNIST with the given balance coefficient.
BalanceRun train_from_collapsed_router(double lb_coef, int64_t steps) {
  std::string cfg_path = std::string(ENGINE_BINARY_DIR) + "/e2e_moe_balance.json";
  std::ofstream(cfg_path) << R"({"device": "cpu"})";
  std::ostringstream lb;
  lb << "moe.lb_coef=" << lb_coef;
  app::TrainConfig c = app::load_train_config(
      cfg_path,
      {"data.train_limit=" + std::to_string(steps * 64), "model.width_mult=0.125", "moe.placement=[\"layer3\"]",
       "moe.num_experts=4", "moe.top_k=1", "moe.drop_tokens=false", lb.str()},
      nullptr);
  app::Datasets ds = app::load_datasets(c);
  manual_seed(0);
  auto model = app::build_model(c, ds.train);
  auto* net = dynamic_cast<models::ResNetMoE*>(model.get());
  REQUIRE(net);
  auto& block = *net->after_stage[2];
  block.norm->bias.data().select(0, 0).fill_(2.0);
  block.moe->params.router.weight.data().select(0, 0).select(0, 0).fill_(1.0);

  optim::SGD opt(optim::make_param_entries(model->named_parameters(), 5e-4, true), optim::SgdOptions{0.05, 0.9});
  data::LoaderOptions lo;
  lo.batch_size = 64;
  lo.drop_last = true;
  lo.normalization = data::dataset_normalization("fashion_mnist");
  data::Loader loader(ds.train, lo);
  app::MoeTracker tracker(*model);
  BalanceRun r;
  data::Batch b;
  int64_t step = 0;
  while (step < steps && loader.next(b)) {
    tracker.set_labels(b.labels, 10);
    Variable logits = (*model)(Variable(b.images));  // before aux_loss(): the forward pass sets it
    Variable loss = ag::add(ag::cross_entropy(logits, b.labels), tracker.aux_loss());
    opt.zero_grad();
    loss.backward();
    opt.step();
    const nn::moe::MoEStats& s = block.moe->last_stats();
    if (step < 10) r.start_max_frac += s.max_token_fraction() / 10;
    if (step >= steps - 10) {
      r.end_max_frac += s.max_token_fraction() / 10;
      r.end_lb += s.lb_loss() / 10;
    }
    ++step;
  }
  REQUIRE(step == steps);
  return r;
}

}  // namespace

// Measured (seed 0, 60 steps): the largest expert's token fraction goes from about 0.9
// to 0.28 with lb_coef 0.1 (0.25 is perfect balance) and from 0.95 to 0.96 without the
// loss; with lb_coef 0.01 it reaches about 0.73 in the same steps.
TEST_CASE("the load-balance loss spreads the tokens of a collapsed router", "[e2e][moe]") {
  const int64_t steps = 60;
  BalanceRun with = train_from_collapsed_router(0.1, steps);
  BalanceRun without = train_from_collapsed_router(0.0, steps);
  INFO("largest expert token fraction, first 10 steps -> last 10 steps: with lb_coef 0.1 "
       << with.start_max_frac << " -> " << with.end_max_frac << " (balance loss " << with.end_lb << "); without "
       << without.start_max_frac << " -> " << without.end_max_frac << " (balance loss " << without.end_lb << ")");
  CHECK(with.start_max_frac > 0.8);
  CHECK(without.start_max_frac > 0.8);
  CHECK(with.end_max_frac < 0.45);
  CHECK(with.end_lb < 1.2);
  CHECK(without.end_max_frac > 0.8);
}

namespace {

app::TrainConfig moe_run_config(const std::string& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  return app::load_train_config(
      std::string(ENGINE_SOURCE_DIR) + "/configs/quickstart_moe_fashion_mnist.json",
      {"output.dir=\"" + dir + "/runs\"", "output.log_every=1000", "data.train_limit=640", "data.test_limit=200",
       "training.epochs=2", "moe.noisy=true", "moe.learned_noise=true", "moe.capacity_factor=1.0"},
      nullptr);
}

}  // namespace

TEST_CASE("train_app with MoE: metrics columns, per-epoch MoE files, resume equality", "[e2e][moe]") {
  std::string base = std::string(ENGINE_BINARY_DIR) + "/e2e_scratch/moe_";
  std::ostringstream out;
  app::TrainResult a = app::Trainer(moe_run_config(base + "a"), "", out).run();
  INFO(out.str());
  CHECK(out.str().find("active per token") != std::string::npos);
  CHECK(a.steps == 20);
  auto rows = testing::read_csv(a.run_dir + "/metrics.csv");
  REQUIRE(rows.size() == 3);
  REQUIRE(rows[0].size() == 12 + app::MoeTracker::metric_columns().size());
  CHECK(rows[0][12] == "moe_aux_loss");
  CHECK(rows[0][15] == "moe_max_expert_frac");
  for (size_t i = 1; i < rows.size(); ++i) {
    // The aux loss is the coefficients times the losses, summed over the two layers.
    double lb = std::stod(rows[i][13]), z = std::stod(rows[i][14]);
    CHECK(std::stod(rows[i][12]) == Approx(2 * (0.01 * lb + 0.001 * z)).epsilon(1e-4));
    CHECK(lb > 0.9);
    CHECK(std::stod(rows[i][15]) >= 0.25);  // some expert takes its even share
    CHECK(std::stod(rows[i][17]) > 0.0);    // capacity 1.0 drops some slots
    CHECK(std::stod(rows[i][18]) > 0.0);    // gate entropy
    CHECK(std::stod(rows[i][18]) <= std::log(4.0) + 1e-9);
  }
  // Expert x class counts: every slot of the epoch's training tokens, per layer.
  for (int epoch : {1, 2}) {
    auto t = testing::read_csv(a.run_dir + "/moe_expert_class_epoch" + std::to_string(epoch) + ".csv");
    REQUIRE(t.size() == 1 + 2 * 4);
    CHECK(t[0].size() == 12);
    int64_t layer3 = 0, layer4 = 0;
    for (size_t r = 1; r < t.size(); ++r)
      for (size_t c = 2; c < t[r].size(); ++c) (t[r][0] == "moe_layer3.moe" ? layer3 : layer4) += std::stoll(t[r][c]);
    CHECK(layer3 == 10 * 64 * 7 * 7);  // 10 steps of 64 images, 7x7 tokens after layer3
    CHECK(layer4 == 10 * 64 * 4 * 4);
  }
  CHECK(testing::read_csv(a.run_dir + "/moe_layers.csv").size() == 1 + 2 * 2);
  // Interrupted after one epoch and resumed: the same metrics (noise included).
  app::TrainResult b1 = app::Trainer(moe_run_config(base + "b"), "", out).run(1);
  app::TrainConfig saved = app::load_train_config(b1.run_dir + "/config.json", {}, nullptr);
  app::TrainResult b = app::Trainer(saved, b1.run_dir, out).run();
  auto rb = testing::read_csv(b.run_dir + "/metrics.csv");
  REQUIRE(rb.size() == rows.size());
  for (size_t i = 1; i < rows.size(); ++i)
    for (size_t col = 0; col < rows[0].size(); ++col) {
      if (col == 8 || col == 9) continue;  // img/s and wall seconds
      INFO("epoch " << i << " column " << rows[0][col]);
      CHECK(rows[i][col] == rb[i][col]);
    }
}
