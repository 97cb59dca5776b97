// A dense checkpoint on its own (no config.json anywhere above it) is enough for eval_app,
// and, where PyTorch is installed (Debian python3-torch), for the documented script
// scripts/torch_eval_checkpoint.py, which must print eval_app's accuracy and NLL to the
// last digit (docs/CHECKPOINTS.md).
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

// "test records 0..999 (1000 images): accuracy 0.xxxx, NLL x.xxxx" from a program's output.
std::string records_line(const std::string& output) {
  std::smatch m;
  REQUIRE(std::regex_search(output, m,
                            std::regex(R"(test records \d+\.\.\d+ \(\d+ images\): accuracy [0-9.]+, NLL [0-9.]+)")));
  return m.str();
}

}  // namespace

TEST_CASE("a dense checkpoint alone evaluates in eval_app and in PyTorch to the same printed digits", "[e2e]") {
  std::string dir = std::string(ENGINE_BINARY_DIR) + "/e2e_scratch/checkpoint_alone";
  fs::remove_all(dir);
  fs::create_directories(dir + "/alone");
  std::ofstream(dir + "/c.json") << R"({"name": "alone", "device": "cpu", "seed": 5,
    "data": {"dataset": "fashion_mnist", "train_limit": 512, "test_limit": 1000},
    "model": {"arch": "resnet18", "width_mult": 0.0625},
    "training": {"epochs": 1, "batch_size": 64, "lr": 0.05},
    "output": {"dir": ")" << dir << R"(/runs", "log_every": 1000, "progress": "lines"}})";
  std::string bin = ENGINE_BINARY_DIR;
  testing::ShellRun train = testing::run_shell(bin + "/train_app " + dir + "/c.json");
  INFO(train.output);
  REQUIRE(train.rc == 0);
  std::string run;
  for (const auto& e : fs::directory_iterator(dir + "/runs/fashion_mnist")) run = e.path().string();
  // The run is listed as finished.
  testing::ShellRun list = testing::run_shell(bin + "/report_app --list " + dir + "/runs");
  INFO(list.output);
  CHECK(list.rc == 0);
  CHECK(list.output.find("finished") != std::string::npos);
  std::string ckpt = dir + "/alone/model.safetensors";
  fs::copy_file(run + "/checkpoints/last.safetensors", ckpt);

  testing::ShellRun ours = testing::run_shell(bin + "/eval_app " + ckpt + " --records 0:1000 --no-plots");
  INFO(ours.output);
  REQUIRE(ours.rc == 0);
  CHECK(ours.output.find("configuration from the checkpoint's metadata") != std::string::npos);
  std::string line = records_line(ours.output);
  // The same as through the run directory and its config.json.
  testing::ShellRun via_run = testing::run_shell(bin + "/eval_app " + run + " --records 0:1000 --no-plots");
  REQUIRE(via_run.rc == 0);
  CHECK(records_line(via_run.output) == line);

  if (testing::run_shell("/usr/bin/python3 -c 'import torch, numpy'").rc != 0) {
    WARN("PyTorch is not installed (Debian python3-torch): the PyTorch half of this test did not run");
    return;
  }
  testing::ShellRun torch = testing::run_shell("/usr/bin/python3 " + std::string(ENGINE_SOURCE_DIR) +
                                               "/scripts/torch_eval_checkpoint.py " + ckpt + " --records 0:1000");
  INFO(torch.output);
  REQUIRE(torch.rc == 0);
  CHECK(records_line(torch.output) == line);
}
