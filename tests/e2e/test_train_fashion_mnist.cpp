// End to end on real Fashion-MNIST (CPU): accuracy bar, run directory, resume
// equality, bad data and bad configs through train_app's exit codes.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "apps/common/trainer.h"
#include "engine/io/safetensors.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

app::TrainConfig small_config(const std::string& out_dir, const std::vector<std::string>& sets) {
  std::string path = out_dir + "/config.json";
  std::ofstream(path) << R"({"device": "cpu", "output": {"dir": ")" << out_dir << R"(/runs", "log_every": 1000}})";
  return app::load_train_config(path, sets, nullptr);
}

int run_app(const std::string& args, const std::string& log) {
  std::string cmd = std::string(ENGINE_BINARY_DIR) + "/train_app " + args + " >" + log + " 2>&1";
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

TEST_CASE("a small ResNet reaches 85% on Fashion-MNIST in a bounded number of steps", "[e2e]") {
  std::string dir = testing::fresh_scratch_dir("accuracy");
  app::TrainConfig c = small_config(
      dir, {"data.train_limit=16000", "data.test_limit=2000", "model.width_mult=0.125", "training.epochs=1",
            "training.batch_size=64", "training.lr=0.05", "training.schedule=\"onecycle\"", "name=\"e2e\""});
  std::ostringstream out;
  app::TrainResult r = app::Trainer(c, "", out).run();
  INFO(out.str());
  CHECK(r.steps == 250);
  CHECK(r.test_accuracy >= 0.85);
  // The run directory holds every file.
  for (const char* f : {"config.json", "metrics.csv", "train.log", "checkpoints/last.safetensors",
                        "checkpoints/best.safetensors", "checkpoints/last_optim.safetensors"})
    CHECK(fs::exists(r.run_dir + "/" + f));
  auto rows = testing::read_csv(r.run_dir + "/metrics.csv");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0][0] == "epoch");
  CHECK(rows[0].size() == 12);
  bool has_events = false;
  for (const auto& e : fs::directory_iterator(r.run_dir))
    has_events = has_events || e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  CHECK(has_events);
  CHECK(std::stod(rows[1][5]) == Approx(r.test_accuracy).epsilon(1e-4));
  io::SafetensorsData ck = io::load_safetensors(r.run_dir + "/checkpoints/last.safetensors");
  CHECK(ck.contains("layer2.0.downsample.0.weight"));
  CHECK(ck.metadata.at("step") == "250");
  // eval_app reproduces the test accuracy from the last checkpoint and writes one
  // prediction row per test image.
  std::string cmd = std::string(ENGINE_BINARY_DIR) + "/eval_app " + r.run_dir + " > " + dir + "/eval.txt 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::string eval = testing::read_text(dir + "/eval.txt");
  std::ostringstream acc;
  acc << std::fixed << std::setprecision(4) << "accuracy " << r.test_accuracy;
  INFO(eval);
  CHECK(eval.find(acc.str()) != std::string::npos);
  CHECK(testing::read_csv(r.run_dir + "/predictions.csv").size() == 2001);
}

TEST_CASE("a resumed run's metrics equal the uninterrupted run's", "[e2e]") {
  std::vector<std::string> sets{"data.train_limit=896",    "data.val_size=128", "data.test_limit=256",
                                "model.width_mult=0.0625", "training.epochs=3", "training.batch_size=64"};
  std::string da = testing::fresh_scratch_dir("resume_a"), db = testing::fresh_scratch_dir("resume_b");
  std::ostringstream out;
  app::TrainResult a = app::Trainer(small_config(da, sets), "", out).run();
  app::TrainResult b1 = app::Trainer(small_config(db, sets), "", out).run(1);
  CHECK(b1.epochs_done == 1);
  app::TrainConfig saved = app::load_train_config(b1.run_dir + "/config.json", {}, nullptr);
  app::TrainResult b = app::Trainer(saved, b1.run_dir, out).run();
  CHECK(b.steps == a.steps);
  auto ra = testing::read_csv(a.run_dir + "/metrics.csv"), rb = testing::read_csv(b.run_dir + "/metrics.csv");
  REQUIRE(ra.size() == 4);
  CHECK_FALSE(ra[1][10].empty());  // the validation split is evaluated
  REQUIRE(rb.size() == 4);
  for (size_t i = 1; i < ra.size(); ++i)
    for (size_t col : {0, 1, 2, 3, 4, 5, 6, 7, 10, 11}) {  // all but img/s and wall seconds
      INFO("epoch " << i << " column " << ra[0][col]);
      CHECK(ra[i][col] == rb[i][col]);
    }
  io::SafetensorsData ma = io::load_safetensors(a.run_dir + "/checkpoints/last.safetensors");
  io::SafetensorsData mb = io::load_safetensors(b.run_dir + "/checkpoints/last.safetensors");
  CHECK(ma.at("fc.weight").to_vector() == mb.at("fc.weight").to_vector());
}

TEST_CASE("a corrupt dataset file stops train_app with a message naming it and writes nothing", "[e2e]") {
  std::string dir = testing::fresh_scratch_dir("corrupt");
  std::string src = "/usr/share/datasets/fashion-mnist";
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz"})
    fs::copy_file(src + "/" + f, dir + "/" + f);
  // Truncate the test labels: keep the gzip intact but cut the payload.
  std::string bad = dir + "/t10k-labels-idx1-ubyte.gz";
  fs::remove(bad);
  {
    std::string cmd = "gzip -dc " + src + "/t10k-labels-idx1-ubyte.gz | head -c 5000 | gzip -c > " + bad;
    REQUIRE(std::system(cmd.c_str()) == 0);
  }
  std::ofstream(dir + "/c.json") << R"({"device": "cpu", "data": {"path": ")" << dir << R"("}, "output": {"dir": ")"
                                 << dir << R"(/runs"}})";
  int rc = run_app(dir + "/c.json", dir + "/log.txt");
  std::string log = testing::read_text(dir + "/log.txt");
  INFO(log);
  CHECK(rc == 1);
  CHECK(log.find("t10k-labels-idx1-ubyte.gz") != std::string::npos);
  CHECK_FALSE(fs::exists(dir + "/runs"));
}

TEST_CASE("bad configs exit with code 2 before writing anything", "[e2e]") {
  std::string dir = testing::fresh_scratch_dir("badcfg");
  const char* bad[] = {R"({"trainig": {}})",
                       R"({"training": {"lr": 0}})",
                       R"({"training": {"batch_size": "x"}})",
                       R"({"data": {"dataset": "mnist"}})",
                       R"({"device": "tpu"})",
                       R"({"model": {"width_mult": -1}})",
                       "{ not json"};
  int i = 0;
  for (const char* text : bad) {
    std::string path = dir + "/bad" + std::to_string(i++) + ".json";
    std::ofstream(path) << text;
    int rc = run_app(path + " --set output.dir=\\\"" + dir + "/runs\\\"", dir + "/log.txt");
    std::string log = testing::read_text(dir + "/log.txt");
    INFO(text << " -> " << log);
    CHECK(rc == 2);
    CHECK(log.find("configuration error") != std::string::npos);
  }
  CHECK(run_app("--set training.lr=0.1", dir + "/log.txt") == 2);
  CHECK_FALSE(fs::exists(dir + "/runs"));
}
