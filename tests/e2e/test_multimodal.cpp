// The multimodal MoE end to end on real Fashion-MNIST (CPU) with the real text encoder:
// the quickstart config learns within a bounded number of steps, expert x class counts
// include the text tokens, a holdout run never trains on a held-out image and reports
// zero-shot figures, and an interrupted run resumes to the same metrics.
#include <filesystem>
#include <sstream>

#include "apps/common/moe_tracker.h"
#include "apps/common/trainer.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

std::string encoder_dir() {
  const char* env = std::getenv("ENGINE_TEXT_ENCODER_DIR");
  return env != nullptr && *env != '\0' ? env : std::string(ENGINE_SOURCE_DIR) + "/build/text_encoder";
}

app::TrainConfig multimodal_config(const std::string& dir, std::vector<std::string> sets) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  sets.insert(sets.end(), {"output.dir=\"" + dir + "/runs\"", "output.log_every=1000", "data.test_limit=300",
                           "multimodal.text_encoder=\"" + encoder_dir() + "\""});
  return app::load_train_config(std::string(ENGINE_SOURCE_DIR) + "/configs/quickstart_multimodal_fashion_mnist.json",
                                sets, nullptr);
}

}  // namespace

TEST_CASE("multimodal quickstart learns, and resumes to the same metrics", "[e2e][moe][multimodal]") {
  if (!fs::exists(encoder_dir() + "/model.safetensors"))
    FAIL("no text encoder in " << encoder_dir() << ": run scripts/fetch_text_encoder.sh " << encoder_dir());
  const std::string base = std::string(ENGINE_BINARY_DIR) + "/e2e_scratch/multimodal_";
  std::ostringstream out;
  // 2 epochs of 15 steps of 64 images.
  const std::vector<std::string> sets = {"data.train_limit=960", "training.epochs=2"};
  app::TrainResult a = app::Trainer(multimodal_config(base + "a", sets), "", out).run();
  INFO(out.str());
  CHECK(out.str().find("class descriptions: 50 from") != std::string::npos);
  auto rows = testing::read_csv(a.run_dir + "/metrics.csv");
  REQUIRE(rows.size() == 3);
  // The MoE columns, then utilisation and gate entropy per modality.
  const size_t moe_end = 12 + app::MoeTracker::metric_columns().size();
  REQUIRE(rows[0].size() == moe_end + 4);
  CHECK(rows[0][moe_end] == "moe_image_utilisation");
  CHECK(rows[0][moe_end + 1] == "moe_image_gate_entropy");
  CHECK(rows[0][moe_end + 2] == "moe_text_utilisation");
  CHECK(rows[0][moe_end + 3] == "moe_text_gate_entropy");
  for (size_t i = 1; i < rows.size(); ++i)
    for (size_t col : {moe_end, moe_end + 2}) {
      CHECK(std::stod(rows[i][col]) >= 0.25);  // at least one of 4 experts used
      CHECK(std::stod(rows[i][col]) <= 1.0);
      CHECK(std::stod(rows[i][col + 1]) > 0.0);
      CHECK(std::stod(rows[i][col + 1]) <= std::log(4.0) + 1e-6);
    }
  // Chance is 10% and a loss of log(10) = 2.30; 30 steps (measured: train loss 1.73 in
  // epoch 2, test accuracy 0.38) get well past both.
  CHECK(std::stod(rows[2][2]) < 2.0);  // train loss of epoch 2
  CHECK(std::stod(rows[2][2]) < std::stod(rows[1][2]) - 0.3);
  CHECK(a.test_accuracy > 0.25);
  // Expert x class: image tokens (4x4 after stage 4 of a 28x28 image) and the 50
  // description tokens of every step.
  auto t = testing::read_csv(a.run_dir + "/moe_expert_class_epoch1.csv");
  int64_t slots = 0;
  for (size_t r = 1; r < t.size(); ++r)
    for (size_t c = 2; c < t[r].size(); ++c) slots += std::stoll(t[r][c]);
  CHECK(slots == 15 * (64 * 4 * 4 + 50));

  app::TrainResult b1 = app::Trainer(multimodal_config(base + "b", sets), "", out).run(1);
  app::TrainConfig saved = app::load_train_config(b1.run_dir + "/config.json", {}, nullptr);
  app::TrainResult b = app::Trainer(saved, b1.run_dir, out).run();
  // Every row and column but the timing ones, as the uninterrupted run wrote them.
  CHECK(testing::metrics_without_timing(b.run_dir) == testing::metrics_without_timing(a.run_dir));
}

TEST_CASE("multimodal holdout run: no held-out image is trained on, zero-shot figures reported",
          "[e2e][moe][multimodal]") {
  if (!fs::exists(encoder_dir() + "/model.safetensors"))
    FAIL("no text encoder in " << encoder_dir() << ": run scripts/fetch_text_encoder.sh " << encoder_dir());
  const std::string base = std::string(ENGINE_BINARY_DIR) + "/e2e_scratch/multimodal_holdout";
  std::ostringstream out;
  app::TrainConfig c = multimodal_config(
      base, {"data.train_limit=800", "training.max_steps=8", "data.holdout_classes=[\"Trouser\", 8]"});
  app::Trainer trainer(c, "", out);
  app::TrainResult r = trainer.run();
  INFO(out.str());
  CHECK(out.str().find("zero-shot: seen classes") != std::string::npos);
  CHECK(out.str().find("calibrated (seen logits - ") != std::string::npos);
  // The expert x class table counts the training tokens by label: held-out classes see
  // only their description tokens (5 per step), never an image token.
  auto t = testing::read_csv(r.run_dir + "/moe_expert_class_epoch1.csv");
  REQUIRE(t.size() > 1);
  for (int64_t k : {1, 8}) {
    int64_t n = 0;
    for (size_t row = 1; row < t.size(); ++row) n += std::stoll(t[row][2 + size_t(k)]);
    CHECK(n == 8 * 5);
  }
}
