// train_app killed at every file-system step of a run (ENGINE_CRASH_AT_STEP: the process
// ends with _exit at the N-th crash point, as kill -9 would), then resumed, the resume
// itself killed once more at one of its first steps, and resumed again: the run must end
// bit-identical (CPU) to one never interrupted, with one epoch folder, no temporary file
// and every derived file. Dense, MoE and f16 (loss scaler) runs.
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

struct Run {
  int rc = -1;
  std::string output;
};

// train_app on one thread (the results are then bit-reproducible), ending at crash point
// `crash_at` (0: never).
Run train_app(const std::string& args, long crash_at, const std::string& log) {
  std::string cmd = "ENGINE_CRASH_AT_STEP=" + std::to_string(crash_at) + " OMP_NUM_THREADS=1 " +
                    std::string(ENGINE_BINARY_DIR) + "/train_app " + args + " >" + log + " 2>&1";
  int rc = std::system(cmd.c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, testing::read_text(log)};
}

// The one run folder under <out>/fashion_mnist, or "" when there is none.
std::string run_folder(const std::string& out) {
  std::string found;
  if (!fs::exists(out + "/fashion_mnist")) return found;
  for (const auto& e : fs::directory_iterator(out + "/fashion_mnist")) {
    REQUIRE(found.empty());
    found = e.path().string();
  }
  return found;
}

std::string write_config(const std::string& dir, const std::string& training_extra, bool moe) {
  std::string path = dir + "/c.json";
  std::ofstream(path) << R"({"name": "crash", "device": "cpu", "seed": 3,
    "data": {"dataset": "fashion_mnist", "train_limit": 64, "test_limit": 64},
    "model": {"arch": "resnet18", "width_mult": 0.0625},
    "training": {"epochs": 3, "batch_size": 32, "lr": 0.05)"
                      << training_extra << "}" << (moe ? R"(, "moe": {"placement": ["layer4"], "num_experts": 2})" : "")
                      << "}";
  return path;
}

// Equal tensors (bit for bit) in two safetensors files, and equal names.
void check_same_tensors(const std::string& a, const std::string& b) {
  io::SafetensorsData x = io::load_safetensors(a), y = io::load_safetensors(b);
  REQUIRE(x.order == y.order);
  for (const std::string& n : x.order) {
    INFO(b << ": " << n);
    CHECK(x.at(n).to_vector() == y.at(n).to_vector());
  }
  for (const char* k : {"epoch", "step", "best_test_acc", "rng_seed", "rng_offset"}) {
    INFO(b << " metadata " << k);
    CHECK(x.metadata[k] == y.metadata[k]);
  }
}

void check_like_reference(const std::string& run, const std::string& ref, bool moe) {
  for (const char* f :
       {"checkpoints/last.safetensors", "checkpoints/last_optim.safetensors", "checkpoints/best.safetensors"})
    check_same_tensors(ref + "/" + f, run + "/" + f);
  CHECK(testing::metrics_without_timing(run) == testing::metrics_without_timing(ref));
  std::vector<std::string> names, ref_names;
  for (const auto& e : fs::recursive_directory_iterator(run)) names.push_back(fs::relative(e.path(), run).string());
  for (const auto& e : fs::recursive_directory_iterator(ref)) ref_names.push_back(fs::relative(e.path(), ref).string());
  std::sort(names.begin(), names.end());
  std::sort(ref_names.begin(), ref_names.end());
  CHECK(names == ref_names);  // one epoch folder, no temporary file, every event and MoE file
  if (moe) {
    CHECK(testing::read_text(run + "/moe_layers.csv") == testing::read_text(ref + "/moe_layers.csv"));
    CHECK(testing::read_text(run + "/moe_expert_class_epoch3.csv") ==
          testing::read_text(ref + "/moe_expert_class_epoch3.csv"));
  }
}

void kill_at_every_step(const std::string& name, const std::string& training_extra, bool moe) {
  std::string root = std::string(ENGINE_BINARY_DIR) + "/e2e_scratch/crash_" + name;
  fs::remove_all(root);
  fs::create_directories(root);
  std::string config = write_config(root, training_extra, moe);
  auto out_set = [&](const std::string& out) { return " --set 'output.dir=\"" + out + "\"'"; };

  Run ref = train_app(config + out_set(root + "/ref"), 0, root + "/ref.log");
  INFO(ref.output);
  REQUIRE(ref.rc == 0);
  std::string ref_dir = run_folder(root + "/ref");
  int killed = 0;
  for (long n = 1;; ++n) {
    std::string out = root + "/n" + std::to_string(n), log = root + "/log.txt";
    Run first = train_app(config + out_set(out), n, log);
    INFO("killed at crash point " << n << ":\n" << first.output);
    if (first.rc == 0) break;  // the run has fewer crash points: all were tried
    REQUIRE(first.rc == io::kCrashExitCode);
    ++killed;
    std::string run = run_folder(out);
    REQUIRE(!run.empty());
    if (!fs::exists(run + "/config.json")) {
      // Stopped while the folder was being created: nothing to resume, and train_app says so.
      Run r = train_app("--resume " + run, 0, log);
      CHECK(r.rc == 2);
      CHECK(r.output.find("has no config.json") != std::string::npos);
      fs::remove_all(out);
      continue;
    }
    // The resume killed at one of its own first steps (cleaning up, rewriting config.json),
    // then resumed to the end.
    long again = 1 + (n - 1) % 6;
    Run second = train_app("--resume " + run, again, log);
    INFO("resume killed at its crash point " << again << ":\n" << second.output);
    REQUIRE((second.rc == io::kCrashExitCode || second.rc == 0));
    Run last = train_app("--resume " + run, 0, log);
    INFO("final resume:\n" << last.output);
    REQUIRE(last.rc == 0);
    check_like_reference(run, ref_dir, moe);
    fs::remove_all(out);
  }
  CHECK(killed > 20);
  WARN(name << ": killed at each of " << killed << " crash points, resumed, and ended as the uninterrupted run");
}

}  // namespace

TEST_CASE("a dense run killed at any file-system step resumes to the uninterrupted result", "[e2e]") {
  kill_at_every_step("dense", "", false);
}

TEST_CASE("an MoE run killed at any file-system step resumes to the uninterrupted result", "[e2e]") {
  kill_at_every_step("moe", "", true);
}

TEST_CASE("an f16 run (loss scaler) killed at any file-system step resumes to the uninterrupted result", "[e2e]") {
  kill_at_every_step("f16", R"(, "precision": "f16")", false);
}
