// training.precision on the CPU (through the generic reduced-precision path): bf16 and
// f16 runs of a tiny ResNet on Fashion-MNIST reach a loss close to the f32 run's; f16
// logs its loss scale and skipped steps, and resumes exactly.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/common/trainer.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

std::string scratch(const std::string& name) { return testing::fresh_scratch_dir("amp_" + name); }

app::TrainConfig amp_config(const std::string& out_dir, const std::string& precision,
                            std::vector<std::string> extra = {}) {
  std::string path = out_dir + "/config.json";
  std::ofstream(path) << R"({"device": "cpu", "output": {"dir": ")" << out_dir << R"(/runs", "log_every": 1000}})";
  std::vector<std::string> sets{"data.train_limit=640",
                                "data.test_limit=128",
                                "model.width_mult=0.0625",
                                "training.epochs=2",
                                "training.batch_size=32",
                                "training.lr=0.05",
                                "training.precision=\"" + precision + "\""};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return app::load_train_config(path, sets, nullptr);
}

}  // namespace

TEST_CASE("bf16 and f16 training reach a loss close to f32's", "[e2e][amp]") {
  std::ostringstream out;
  std::map<std::string, std::vector<std::vector<std::string>>> rows;
  for (const char* p : {"f32", "bf16", "f16"}) {
    app::TrainResult r = app::Trainer(amp_config(scratch(p), p), "", out).run();
    CHECK(r.steps == 40);
    rows[p] = testing::read_csv(r.run_dir + "/metrics.csv");
    REQUIRE(rows[p].size() == 3);
  }
  INFO(out.str());
  auto train_loss = [&](const char* p) { return std::stod(rows[p][2][2]); };
  auto test_loss = [&](const char* p) { return std::stod(rows[p][2][4]); };
  // Two epochs of 20 steps from the same initialisation and batch order: low precision
  // moves the trajectory a little, not the outcome (measured: below 0.04).
  for (const char* p : {"bf16", "f16"}) {
    INFO(p << ": train loss " << train_loss(p) << " vs " << train_loss("f32") << ", test loss " << test_loss(p)
           << " vs " << test_loss("f32"));
    CHECK(std::abs(train_loss(p) - train_loss("f32")) < 0.1);
    CHECK(std::abs(test_loss(p) - test_loss("f32")) < 0.1);
    CHECK(train_loss(p) < std::stod(rows[p][1][2]));  // it learns
  }
  // Only f16 scales the loss: its two extra columns, no skipped step at these sizes.
  CHECK(rows["f32"][0].size() == 12);
  CHECK(rows["bf16"][0].size() == 12);
  REQUIRE(rows["f16"][0].size() == 14);
  CHECK(rows["f16"][0][12] == "skipped_steps");
  CHECK(rows["f16"][0][13] == "loss_scale");
  CHECK(std::stod(rows["f16"][2][12]) >= 0);
  CHECK(std::stod(rows["f16"][2][13]) > 0);
}

TEST_CASE("f16 with a tiny growth interval: the scale moves, skipped steps are logged, resume is exact", "[e2e][amp]") {
  // Start the scale too high (2^20: f16 gradients overflow above about 2^16 here) so
  // that the first steps are skipped, and let it grow every 4 good steps so that it
  // keeps moving (and overflowing now and then).
  std::vector<std::string> extra{"training.loss_scale.init=1048576.0", "training.loss_scale.growth_interval=4"};
  std::ostringstream out;
  app::TrainResult a = app::Trainer(amp_config(scratch("a"), "f16", extra), "", out).run();
  app::TrainResult b1 = app::Trainer(amp_config(scratch("b"), "f16", extra), "", out).run(1);
  app::TrainConfig saved = app::load_train_config(b1.run_dir + "/config.json", {}, nullptr);
  app::TrainResult b = app::Trainer(saved, b1.run_dir, out).run();
  INFO(out.str());
  auto ra = testing::read_csv(a.run_dir + "/metrics.csv"), rb = testing::read_csv(b.run_dir + "/metrics.csv");
  REQUIRE(ra.size() == 3);
  REQUIRE(rb.size() == 3);
  double skipped = std::stod(ra[2][12]), scale = std::stod(ra[2][13]);
  CHECK(skipped >= 1);
  CHECK(skipped < 20);
  CHECK(scale < 1048576.0);
  CHECK(out.str().find("loss scale") != std::string::npos);
  for (size_t i = 1; i < ra.size(); ++i)
    for (size_t col : {0, 1, 2, 3, 4, 5, 6, 7, 12, 13}) {  // all but img/s, wall seconds and the empty val_*
      INFO("epoch " << i << " column " << ra[0][col]);
      CHECK(ra[i][col] == rb[i][col]);
    }
}

TEST_CASE("training.precision is validated", "[e2e][amp]") {
  std::string d = scratch("bad");
  CHECK_THROWS_WITH(amp_config(d, "f64"), Catch::Contains("training.precision"));
  CHECK_THROWS_WITH(amp_config(d, "bf16", {"training.loss_scale.backoff_factor=1.5"}),
                    Catch::Contains("training.loss_scale.backoff_factor"));
}
