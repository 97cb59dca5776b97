// train_app under `mpirun -np 2` (docs/DISTRIBUTED.md): data parallel training equals
// the one-process run it stands for, a failing or killed rank ends the run with a
// message naming it, and a run continues across a change in the number of ranks.
// Tiny dense runs (ResNet-18 x 1/16, 160 Fashion-MNIST images, global batch 16, 20
// steps), one thread per process.
#include <catch2/catch.hpp>

#ifdef ENGINE_MPIEXEC
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "engine/io/safetensors.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

struct Run {
  int rc = -1;
  std::string output;
  double seconds = 0;
};

const char* kMpiEnv =
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
    "OMPI_MCA_btl_vader_single_copy_mechanism=none "
    "OMP_NUM_THREADS=1 ENGINE_CUDASIM_QUIET=1 ";

// train_app with `args`, on `ranks` processes (1: without mpirun), `env` prepended.
Run train_app(int ranks, const std::string& args, const std::string& env = "") {
  std::string app = std::string(ENGINE_BINARY_DIR) + "/train_app ";
  std::string launch =
      ranks > 1 ? "timeout 100 " ENGINE_MPIEXEC " -np " + std::to_string(ranks) + " --bind-to none " : "timeout 100 ";
  auto t0 = std::chrono::steady_clock::now();
  testing::ShellRun r = testing::run_shell(kMpiEnv + env + " " + launch + app + args);
  return {r.rc, r.output, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
}

std::string scratch(const std::string& name) {
  std::string root = testing::fresh_scratch_dir("dist_" + name);
  std::ofstream(root + "/c.json") << R"({"name": "dp", "device": "cpu", "seed": 5,
    "data": {"dataset": "fashion_mnist", "train_limit": 160, "test_limit": 64, "prefetch": false},
    "model": {"arch": "resnet18", "width_mult": 0.0625},
    "training": {"epochs": 2, "batch_size": 16, "lr": 0.05, "schedule": "onecycle"},
    "output": {"progress": "lines"}})";
  return root;
}

std::string out_set(const std::string& dir) { return " --set 'output.dir=\"" + dir + "\"'"; }

// The one run folder under <out>/fashion_mnist.
std::string run_folder(const std::string& out) {
  std::string found;
  for (const auto& e : fs::directory_iterator(out + "/fashion_mnist")) found = e.path().string();
  REQUIRE(!found.empty());
  return found;
}

// The largest relative difference over the float tensors of two runs' last checkpoints:
// max |a - b| / max |b| per tensor.
double worst_relative_difference(const std::string& run_a, const std::string& run_b) {
  io::SafetensorsData a = io::load_safetensors(run_a + "/checkpoints/last.safetensors");
  io::SafetensorsData b = io::load_safetensors(run_b + "/checkpoints/last.safetensors");
  REQUIRE(a.order == b.order);
  double worst = 0;
  for (const std::string& n : a.order) {
    if (a.at(n).dtype() != DType::f32 && a.at(n).dtype() != DType::f64) continue;
    std::vector<double> x = a.at(n).to_vector(), y = b.at(n).to_vector();
    double diff = 0, scale = 1e-30;
    for (size_t i = 0; i < x.size(); ++i) {
      diff = std::max(diff, std::fabs(x[i] - y[i]));
      scale = std::max(scale, std::fabs(y[i]));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

// A 2-rank run and a 1-process run with ghost batch norm over 2 shards, both with
// `args` (output in root/two and root/ghost); the 2-rank run's summary names `summary`.
// Returns the 2-rank run.
Run ranks_and_ghost(const std::string& root, const std::string& args, const std::string& summary) {
  Run two = train_app(2, args + out_set(root + "/two"));
  INFO(two.output);
  REQUIRE(two.rc == 0);
  CHECK(two.output.find(summary) != std::string::npos);
  Run ghost = train_app(1, args + " --set dist.ghost_batchnorm=2" + out_set(root + "/ghost"));
  INFO(ghost.output);
  REQUIRE(ghost.rc == 0);
  return two;
}

}  // namespace

TEST_CASE("data parallel: 2 ranks with per-rank batch norm equal 1 process with ghost batch norm over 2 shards",
          "[mpi]") {
  std::string root = scratch("ghost");
  Run two = ranks_and_ghost(root, root + "/c.json", "x 2 ranks (mpi, global batch 16)");
  Run plain = train_app(1, root + "/c.json" + out_set(root + "/plain"));
  REQUIRE(plain.rc == 0);
  // Rank 0 alone wrote a run directory.
  REQUIRE(std::distance(fs::directory_iterator(root + "/two/fashion_mnist"), fs::directory_iterator()) == 1);
  std::string a = run_folder(root + "/two"), b = run_folder(root + "/ghost"), p = run_folder(root + "/plain");
  double rel = worst_relative_difference(a, b), rel_plain = worst_relative_difference(a, p);
  std::cout << "2 ranks vs 1 process with ghost batch norm: weights within " << rel
            << " (relative); vs plain 1 process (whole-batch statistics): " << rel_plain << "; 2-rank run "
            << two.seconds << " s" << std::endl;
  CHECK(rel <= 1e-5);
  CHECK(testing::metrics_without_timing(a) == testing::metrics_without_timing(b));
  // Statistics over the whole batch train another model: the comparison can tell.
  CHECK(rel_plain > 1e-3);
}

// With two ranks every element's sum is one addition, so the buckets (reverse order
// during backward, or parameter order after it) cannot change a bit.
TEST_CASE("data parallel: gradient sums started during backward equal sums after backward", "[mpi]") {
  std::string root = scratch("overlap");
  Run during = train_app(2, root + "/c.json" + out_set(root + "/during") + " --set dist.bucket_mb=0.01");
  INFO(during.output);
  REQUIRE(during.rc == 0);
  CHECK(during.output.find("x 2 ranks (mpi, global batch 16), gradient sums overlap backward") != std::string::npos);
  Run after = train_app(2, root + "/c.json" + out_set(root + "/after") + " --set dist.overlap=false");
  INFO(after.output);
  REQUIRE(after.rc == 0);
  CHECK(after.output.find("gradient sums overlap backward") == std::string::npos);
  std::string a = run_folder(root + "/during"), b = run_folder(root + "/after");
  CHECK(worst_relative_difference(a, b) == 0.0);
  CHECK(testing::metrics_without_timing(a) == testing::metrics_without_timing(b));
}

// This tiny network amplifies rounding differences about threefold per step at the
// configs' learning rate 0.05 (two 1-process runs whose batch norm differ only in
// summation order drift apart to O(1) in 20 steps), so runs that add in another order
// are compared at a small learning rate, where rounding stays rounding as long as no
// ReLU gate lands on the other side of zero (README, "Tests"). That is a matter of luck
// per kernel set: with the CPU's current f32 batch norm and convolutions, 0.002 and
// 0.0002 flip a gate (8e-2 and 5e-2 relative after 20 steps) and 0.0005 does not
// (1.7e-6); a kernel change that moves a rounding can move this again.
TEST_CASE("data parallel: 2 ranks with synchronised batch norm equal 1 process on the whole batch", "[mpi]") {
  std::string root = scratch("sync");
  std::string c = root + "/c.json --set training.lr=0.0005 --set training.schedule='\"constant\"'";
  Run sync = train_app(2, c + " --set dist.sync_batchnorm=true" + out_set(root + "/sync"));
  INFO(sync.output);
  REQUIRE(sync.rc == 0);
  Run per_rank = train_app(2, c + out_set(root + "/per_rank"));
  REQUIRE(per_rank.rc == 0);
  Run one = train_app(1, c + out_set(root + "/one"));
  INFO(one.output);
  REQUIRE(one.rc == 0);
  std::string s = run_folder(root + "/sync"), r = run_folder(root + "/per_rank"), o = run_folder(root + "/one");
  double rel = worst_relative_difference(s, o), rel_per_rank = worst_relative_difference(r, o);
  std::cout << "2 ranks with synchronised batch norm vs 1 process: weights within " << rel
            << " (relative); 2 ranks with per-rank batch norm vs 1 process: " << rel_per_rank << "; " << sync.seconds
            << " s" << std::endl;
  CHECK(rel <= 1e-5);
  CHECK(testing::metrics_without_timing(s) == testing::metrics_without_timing(o));
  CHECK(rel_per_rank > 1e-3);
}

// The MoE runs: MoE blocks after layer3 (spatial tokens) and on the pooled features, 4
// experts, top 2, the three aux losses, synchronised batch norm, at the small learning
// rate of the test above. A fresh router gives every token nearly equal probabilities,
// so a rounding-level difference (the batch norm sums) can swap a token's second and
// third choice, after which the runs train different models: with the router's
// temperature at 1 that happened within 7 steps (relative differences of 1e-2 and more
// by step 20). Temperature 0.2 keeps the choices apart for these runs (differences of
// 3e-6 after 20 steps). Like the learning rate above, that is luck per kernel set.
std::string moe_args(const std::string& root) {
  return root +
         "/c.json --set training.lr=0.0005 --set training.schedule='\"constant\"' --set dist.sync_batchnorm=true "
         "--set 'moe.placement=[\"layer3\", \"head\"]' --set moe.num_experts=4 --set moe.top_k=2 "
         "--set moe.temperature=0.2 --set moe.z_coef=0.001 --set moe.importance_coef=0.01";
}

// The MoE layers' table of a run.
std::vector<std::vector<std::string>> moe_layers_csv(const std::string& run) {
  return testing::read_csv(run + "/checkpoints/last/moe_layers.csv");
}

// Two tables of numbers alike to rounding: the MoE statistics are sums over the ranks'
// tokens (in f64) where one process sums over the batch (in f32), which the printed six
// digits can show.
bool tables_close(const std::vector<std::vector<std::string>>& a, const std::vector<std::vector<std::string>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].size() != b[i].size()) return false;
    for (size_t j = 0; j < a[i].size(); ++j) {
      if (a[i][j] == b[i][j]) continue;
      char *ea = nullptr, *eb = nullptr;
      double x = std::strtod(a[i][j].c_str(), &ea), y = std::strtod(b[i][j].c_str(), &eb);
      if (*ea != '\0' || *eb != '\0' || a[i][j].empty() || b[i][j].empty()) return false;
      if (std::fabs(x - y) > 2e-5 * std::max(std::fabs(x), std::fabs(y)) + 1e-7) return false;
    }
  }
  return true;
}

// A run of `ranks` against 1 process, both with `args`: the largest relative weight
// difference, with the metrics and MoE tables compared.
double moe_against_one_process(const std::string& root, const std::string& args, const std::string& what) {
  Run many = train_app(2, args + out_set(root + "/" + what + "_two"));
  INFO(many.output);
  REQUIRE(many.rc == 0);
  Run one = train_app(1, args + out_set(root + "/" + what + "_one"));
  INFO(one.output);
  REQUIRE(one.rc == 0);
  std::string m = run_folder(root + "/" + what + "_two"), o = run_folder(root + "/" + what + "_one");
  double rel = worst_relative_difference(m, o);
  std::cout << what << ", 2 ranks vs 1 process: weights within " << rel << "; " << many.seconds << " s" << std::endl;
  CHECK(tables_close(testing::metrics_without_timing(m), testing::metrics_without_timing(o)));
  CHECK(tables_close(moe_layers_csv(m), moe_layers_csv(o)));
  return rel;
}

// Expert parallel: every rank holds 2 of each block's 4 experts, and the dispatch is the
// one of the whole batch, so the run equals one process, also where experts drop tokens
// (one epoch of 10 steps: with drops a swapped choice also moves the capacity cut).
// Rank 0's checkpoint holds every expert, as one process's does (the comparison reads
// the same tensor names and shapes).
TEST_CASE("expert parallel: 2 ranks, each with half the experts, equal 1 process, capacity drops included", "[mpi]") {
  std::string root = scratch("expert_parallel");
  std::string ep = moe_args(root) + " --set moe.expert_parallel=true";
  Run check = train_app(2, ep + " --set training.max_steps=1" + out_set(root + "/summary"));
  INFO(check.output);
  CHECK(check.output.find("experts split over the ranks (2 of each block's 4 per rank)") != std::string::npos);
  CHECK(moe_against_one_process(root, ep, "dropless") <= 1e-5);
  double drops = moe_against_one_process(
      root, ep + " --set moe.drop_tokens=true --set moe.capacity_factor=1.0 --set training.max_steps=10", "drops");
  CHECK(drops <= 1e-5);
  CHECK(std::stod(moe_layers_csv(run_folder(root + "/drops_one"))[1][8]) > 0);  // dropped_frac
}

// Data parallel MoE (all experts on every rank, capacity per rank): dropless, the aux
// losses and statistics over both ranks' tokens make it equal one process.
TEST_CASE("data parallel: 2 ranks of a dropless MoE model equal 1 process, aux losses and statistics included",
          "[mpi]") {
  std::string root = scratch("moe_dp");
  CHECK(moe_against_one_process(root, moe_args(root), "data_parallel") <= 1e-5);
}

// The checkpoint of an expert parallel run is one process's: a 2-rank run killed in
// epoch 2 continues in 1 process as if it had been one all along.
TEST_CASE("expert parallel: a 2-rank run continues in 1 process from its checkpoint", "[mpi]") {
  std::string root = scratch("expert_parallel_resume");
  std::string c = moe_args(root);
  Run whole = train_app(1, c + out_set(root + "/whole"));
  REQUIRE(whole.rc == 0);
  Run first =
      train_app(2, c + " --set moe.expert_parallel=true" + out_set(root + "/two_one"), "ENGINE_DIST_FAIL=0:10:kill");
  INFO(first.output);
  REQUIRE(first.rc != 0);
  std::string two_one = run_folder(root + "/two_one");
  Run rest = train_app(1, "--resume " + two_one);
  INFO(rest.output);
  REQUIRE(rest.rc == 0);
  CHECK(rest.output.find("resuming " + two_one + " at epoch 1, step 10") != std::string::npos);
  std::string w = run_folder(root + "/whole");
  double rel = worst_relative_difference(two_one, w);
  std::cout << "expert parallel resumed 2 -> 1: weights within " << rel << " of the uninterrupted run" << std::endl;
  CHECK(rel <= 1e-5);
  CHECK(tables_close(testing::metrics_without_timing(two_one), testing::metrics_without_timing(w)));
}

#if ENGINE_CUDA_SIM
// On the simulated GPU the gradients travel through the simulated NCCL (cudasim), so the
// NCCL call sites of the trainer run here (4 steps: the simulated device is slow).
TEST_CASE(
    "data parallel: 2 ranks on the simulated GPU (gradients over the simulated NCCL) equal 1 process with ghost batch "
    "norm",
    "[mpi]") {
  std::string root = scratch("nccl");
  std::string c = root +
                  "/c.json --set device='\"cuda\"' --set training.max_steps=4 --set data.train_limit=64 "
                  "--set data.test_limit=32";
  Run two = ranks_and_ghost(root, c, "x 2 ranks (mpi, gradients over nccl");
  double rel = worst_relative_difference(run_folder(root + "/two"), run_folder(root + "/ghost"));
  std::cout << "simulated GPU, 2 ranks over the simulated NCCL vs 1 process with ghost batch norm: weights within "
            << rel << "; " << two.seconds << " s" << std::endl;
  CHECK(rel <= 1e-5);
}
#endif

TEST_CASE("data parallel: a rank that raises ends every rank with an error naming it", "[mpi]") {
  std::string root = scratch("raise");
  Run r = train_app(2, root + "/c.json" + out_set(root + "/out"), "ENGINE_DIST_FAIL=1:3:raise");
  INFO(r.output);
  CHECK(r.rc != 0);
  CHECK(r.rc != 124);  // not ended by the timeout
  CHECK(r.seconds < 60);
  CHECK(r.output.find("train_app (rank 1 of 2): error: a failure planted by ENGINE_DIST_FAIL at step 3") !=
        std::string::npos);
  CHECK(r.output.find("train_app (rank 1 of 2): stopped with exit code 1; ending the run's other ranks") !=
        std::string::npos);
  // (Open MPI's own "MPI_ABORT was invoked on rank 1" notice is not checked: its help
  // system sometimes loses it, ORTE_ERROR_LOG "Data unpack would read past end of buffer".)
}

TEST_CASE("data parallel: a killed rank ends the run within 60 s, named by mpirun", "[mpi]") {
  std::string root = scratch("kill");
  Run r = train_app(2, root + "/c.json" + out_set(root + "/out"), "ENGINE_DIST_FAIL=1:3:kill");
  INFO(r.output);
  CHECK(r.rc != 0);
  CHECK(r.rc != 124);
  CHECK(r.seconds < 60);
  CHECK(r.output.find("process rank 1 with PID") != std::string::npos);
  CHECK(r.output.find("exited on signal 9") != std::string::npos);
}

TEST_CASE("data parallel: a run continues with another number of ranks from its checkpoint", "[mpi]") {
  std::string root = scratch("resume");
  std::string c = root + "/c.json --set dist.ghost_batchnorm=2";
  Run whole = train_app(1, c + out_set(root + "/whole"));
  REQUIRE(whole.rc == 0);
  // 2 ranks, rank 0 killed at the first step of epoch 2; continued by 1 process.
  Run first = train_app(2, root + "/c.json" + out_set(root + "/two_one"), "ENGINE_DIST_FAIL=0:10:kill");
  INFO(first.output);
  REQUIRE(first.rc != 0);
  std::string two_one = run_folder(root + "/two_one");
  Run rest = train_app(1, "--resume " + two_one + " --set dist.ghost_batchnorm=2");
  INFO(rest.output);
  REQUIRE(rest.rc == 0);
  CHECK(rest.output.find("resuming " + two_one + " at epoch 1, step 10") != std::string::npos);
  // 1 process killed there; continued by 2 ranks.
  Run alone = train_app(1, c + out_set(root + "/one_two"), "ENGINE_DIST_FAIL=0:10:kill");
  REQUIRE(alone.rc != 0);
  std::string one_two = run_folder(root + "/one_two");
  Run ranks = train_app(2, "--resume " + one_two + " --set dist.ghost_batchnorm=0");
  INFO(ranks.output);
  REQUIRE(ranks.rc == 0);
  std::string w = run_folder(root + "/whole");
  double rel21 = worst_relative_difference(two_one, w), rel12 = worst_relative_difference(one_two, w);
  std::cout << "resumed 2 -> 1: weights within " << rel21 << ", 1 -> 2: within " << rel12 << " of the uninterrupted run"
            << std::endl;
  CHECK(rel21 <= 1e-5);
  CHECK(rel12 <= 1e-5);
  CHECK(testing::metrics_without_timing(two_one) == testing::metrics_without_timing(w));
  CHECK(testing::metrics_without_timing(one_two) == testing::metrics_without_timing(w));
}

#endif
