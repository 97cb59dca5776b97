// eval_app and report_app end to end on two tiny runs trained here on real
// Fashion-MNIST, one dense and one with an MoE block: eval.json, the plots of both,
// corruption results, and a RESULTS.md with the dense row before the MoE row.
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/common/run_plots.h"
#include "apps/common/trainer.h"
#include "engine/io/config.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

int run_tool(const std::string& tool, const std::string& args, const std::string& log) {
  std::string cmd = std::string(ENGINE_BINARY_DIR) + "/" + tool + " " + args + " >" + log + " 2>&1";
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// A PNG signature and IHDR with a plausible size (the pixels are decoded in tests/metrics).
bool looks_like_png(const std::string& path) {
  std::string s = testing::read_text(path);
  if (s.size() < 33 || s.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0 || s.compare(12, 4, "IHDR") != 0) return false;
  auto be32 = [&](size_t i) {
    return uint32_t(uint8_t(s[i])) << 24 | uint32_t(uint8_t(s[i + 1])) << 16 | uint32_t(uint8_t(s[i + 2])) << 8 |
           uint32_t(uint8_t(s[i + 3]));
  };
  return be32(16) >= 100 && be32(20) >= 100;
}

app::TrainResult train(const std::string& dir, const std::string& name, const std::vector<std::string>& extra) {
  std::string path = dir + "/" + name + ".json";
  std::ofstream(path) << R"({"device": "cpu", "output": {"dir": ")" << dir << R"(/runs", "log_every": 1000}})";
  std::vector<std::string> sets{"data.train_limit=640",    "data.val_size=128",    "data.test_limit=256",
                                "model.width_mult=0.0625", "training.epochs=2",    "training.batch_size=64",
                                "training.lr=0.05",        "name=\"" + name + "\""};
  sets.insert(sets.end(), extra.begin(), extra.end());
  std::ostringstream out;
  return app::Trainer(app::load_train_config(path, sets, nullptr), "", out).run();
}

}  // namespace

TEST_CASE("eval_app writes plots and eval.json and report_app a RESULTS.md with dense and MoE rows", "[e2e]") {
  std::string dir = std::string(ENGINE_BINARY_DIR) + "/e2e_scratch/report";
  fs::remove_all(dir);
  fs::create_directories(dir);
  // The MoE run is named first on report_app's command line: the table still lists
  // the dense row of the dataset first.
  app::TrainResult moe = train(dir, "tiny_moe", {"moe.placement=[\"layer4\"]", "moe.num_experts=2"});
  app::TrainResult dense = train(dir, "tiny_dense", {});

  // Capacity-limited evaluation through --set, recorded in eval.json; then the default
  // (dropless), whose eval.json the checks below read.
  REQUIRE(run_tool("eval_app",
                   moe.run_dir + " --no-plots --set moe.eval_capacity_factor=0.5 --set training.eval_batch_size=7",
                   dir + "/eval_moe_capacity.txt") == 0);
  io::Json cap = io::read_json_file(moe.run_dir + "/eval.json");
  CHECK(cap["moe_eval"]["eval_capacity_factor"] == 0.5);
  CHECK(cap["moe_eval"]["eval_batch_size"] == 7);
  CHECK(cap["moe_eval"]["slots"] == 256 * 16);  // 4x4 tokens per image after layer4, top-1
  CHECK(cap["moe_eval"]["dropped_slots"].get<int64_t>() > 0);
  CHECK(testing::read_text(dir + "/eval_moe_capacity.txt").find("moe evaluation: capacity factor 0.50, eval batch 7") !=
        std::string::npos);
  CHECK(run_tool("eval_app", moe.run_dir + " --no-plots --set moe.eval_capacity_factor=0", dir + "/eval_bad.txt") == 2);
  CHECK(testing::read_text(dir + "/eval_bad.txt").find("'moe.eval_capacity_factor' = 0 is out of range") !=
        std::string::npos);
  REQUIRE(run_tool("eval_app", moe.run_dir + " --records 0:100", dir + "/eval_moe.txt") == 0);
  CHECK(run_tool("eval_app", moe.run_dir + " --records 100:50", dir + "/eval_bad.txt") == 2);
  CHECK(run_tool("eval_app", moe.run_dir + " --records 0:100000 --no-plots", dir + "/eval_bad.txt") == 2);
  REQUIRE(run_tool("eval_app", dense.run_dir + " --corruptions --corruption-images 32", dir + "/eval_dense.txt") == 0);
  std::string log = testing::read_text(dir + "/eval_dense.txt");
  INFO(log);
  CHECK(log.find("temperature scaling, fitted on the validation split") != std::string::npos);
  CHECK(log.find("mean over corruptions and severities") != std::string::npos);

  io::Json e = io::read_json_file(dense.run_dir + "/eval.json");
  CHECK(e["test"]["images"] == 256);
  // eval_app <run> evaluates the last checkpoint: the last test accuracy of metrics.csv.
  std::vector<double> accs = app::read_csv(dense.run_dir + "/metrics.csv").numbers("test_acc");
  CHECK(e["test"]["accuracy"].get<double>() == Approx(accs.back()).margin(1e-5));
  CHECK(e["temperature"]["value"].get<double>() > 0);
  CHECK(e["temperature"]["fit_images"] == 128);
  CHECK(e["model"]["params"].get<int64_t>() == e["model"]["active_params"].get<int64_t>());
  CHECK_FALSE(e.contains("moe_eval"));
  CHECK(e["corruptions"]["results"].size() == 40);
  for (const char* p : {"reliability.png", "reliability_temperature.png", "training_curves.png", "samples.png",
                        "corruptions.png", "corruption_examples.png"}) {
    INFO(p);
    CHECK(looks_like_png(dense.run_dir + "/plots/" + p));
  }
  io::Json m = io::read_json_file(moe.run_dir + "/eval.json");
  CHECK(m["model"]["active_params"].get<int64_t>() < m["model"]["params"].get<int64_t>());
  CHECK(m["moe_eval"]["eval_capacity_factor"].is_null());
  CHECK(m["moe_eval"]["dropped_slots"] == 0);
  // --records 0:100: the first 100 test records reported on their own.
  CHECK(m["records"]["images"] == 100);
  CHECK(m["records"]["accuracy"].get<double>() >= 0.0);
  CHECK(m["records"]["accuracy"].get<double>() <= 1.0);
  CHECK(m["records"]["nll"].get<double>() > 0.0);
  for (const char* p : {"moe_expert_load.png", "moe_expert_class_layer4.png", "moe_test_expert_class_layer4.png",
                        "samples.png", "training_curves.png"}) {
    INFO(p);
    CHECK(looks_like_png(moe.run_dir + "/plots/" + p));
  }

  std::string results = dir + "/RESULTS.md";
  REQUIRE(run_tool("report_app", moe.run_dir + " " + dense.run_dir + " --out " + results, dir + "/report.txt") == 0);
  std::string md = testing::read_text(results);
  INFO(md);
  size_t dense_row = md.find("| Dense | tiny_dense"), moe_row = md.find("| MoE | tiny_moe");
  REQUIRE(dense_row != std::string::npos);
  REQUIRE(moe_row != std::string::npos);
  CHECK(dense_row < moe_row);
  CHECK(md.find("build/train_app " + dense.run_dir + "/config.json") != std::string::npos);
  CHECK(md.find("plots/reliability.png") != std::string::npos);
  CHECK(looks_like_png(dir + "/RESULTS_curves.png"));
  // Every linked file exists, relative to RESULTS.md.
  size_t links = 0;
  for (size_t at = md.find("](runs/"); at != std::string::npos; at = md.find("](runs/", at + 1)) {
    std::string rel = md.substr(at + 2, md.find(')', at) - at - 2);
    INFO(rel);
    CHECK(fs::exists(dir + "/" + rel));
    ++links;
  }
  CHECK(links >= 10);
  CHECK(run_tool("report_app", dir + "/nothing_here", dir + "/bad.txt") == 1);
  CHECK(run_tool("report_app", "", dir + "/bad.txt") == 2);
}
