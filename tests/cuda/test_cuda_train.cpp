// End to end on the CUDA device: the dense and the MoE quickstart configs train a few
// dozen steps on cuda:0 with the losses of the same run on the CPU (in CI on the
// simulated GPU, where this is the check that every CUDA path of a training step, MoE
// routing and grouped GEMMs included, computes what the CPU computes).
#include <cmath>
#include <filesystem>
#include <regex>
#include <sstream>

#include "apps/common/train_config.h"
#include "apps/common/trainer.h"
#include "cuda_parity.h"
#include "engine/autograd/functions.h"
#include "engine/core/generator.h"
#include "engine/optim/optimizer.h"
#include "models/resnet.h"

using namespace engine;
using namespace engine::testing;
namespace fs = std::filesystem;

namespace {

// (step, loss) of every progress line of a run.
std::vector<std::pair<int64_t, double>> step_losses(const std::string& log) {
  std::vector<std::pair<int64_t, double>> r;
  std::regex line(R"(step (\d+)/\d+ loss ([0-9.eE+-]+|nan|inf))");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator(); ++it)
    r.emplace_back(std::stoll((*it)[1]), std::stod((*it)[2]));
  return r;
}

struct Run {
  std::vector<std::pair<int64_t, double>> losses;
  app::TrainResult result;
  std::string log;
};

Run quickstart(const std::string& config, const std::string& device) {
  const std::string dir = std::string(ENGINE_BINARY_DIR) + "/cuda_train_scratch/" + device.substr(0, 4);
  fs::remove_all(dir);
  fs::create_directories(dir);
  app::TrainConfig c =
      app::load_train_config(std::string(ENGINE_SOURCE_DIR) + "/configs/" + config,
                             {"device=\"" + device + "\"", "output.dir=\"" + dir + "\"", "output.log_every=4",
                              "output.progress=\"lines\"", "training.max_steps=24", "data.test_limit=256"},
                             nullptr);
  Run r;
  std::ostringstream out;
  r.result = app::Trainer(c, "", out).run();
  r.log = out.str();
  r.losses = step_losses(r.log);
  return r;
}

}  // namespace

TEST_CASE("the dense and MoE quickstarts train 24 steps on CUDA with the CPU run's losses", "[cuda]") {
  begin_cuda_test();
  runtime::cuda_set_poison_allocations(false);
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) {
    WARN("Fashion-MNIST (Debian dataset-fashion-mnist) is not installed: nothing to train on");
    return;
  }
  for (const char* config : {"quickstart_fashion_mnist.json", "quickstart_moe_fashion_mnist.json"}) {
    Run cpu = quickstart(config, "cpu"), gpu = quickstart(config, "cuda:0");
    INFO(config << "\nCPU:\n" << cpu.log << "\nCUDA:\n" << gpu.log);
    REQUIRE(cpu.losses.size() >= 6);
    REQUIRE(gpu.losses.size() == cpu.losses.size());
    CHECK(gpu.result.steps == cpu.result.steps);
    // f32 on both devices; summation orders differ (cuBLAS, cuDNN, block reductions) and
    // SGD at lr 0.05 with momentum carries the differences forward: the logged running
    // mean of the loss must stay within 1% (measured: equal to 4 digits for the first two
    // steps, at most 0.4% apart by step 24 for both configs).
    for (size_t i = 0; i < cpu.losses.size(); ++i) {
      INFO("step " << cpu.losses[i].first << ": cpu loss " << cpu.losses[i].second << ", cuda "
                   << gpu.losses[i].second);
      CHECK(gpu.losses[i].first == cpu.losses[i].first);
      CHECK(std::abs(gpu.losses[i].second - cpu.losses[i].second) <= 1e-2 * cpu.losses[i].second);
    }
    CHECK(std::abs(gpu.losses.front().second - cpu.losses.front().second) <= 2e-3 * cpu.losses.front().second);
    // The test metrics of a 24-step model are not compared: measured, they differ by 6
    // points of accuracy and up to 17% of NLL between the devices (eval runs on batch-norm
    // running statistics of an early, fast-moving model); see the README.
    CHECK(gpu.result.test_accuracy > 0.2);
  }
}

TEST_CASE("a ResNet step on CUDA gives the CPU's loss and gradients", "[cuda]") {
  begin_cuda_test();
  models::ResNetConfig rc;
  rc.width_mult = 0.125;
  auto make = [&](Device d) {
    manual_seed(11);
    auto m = std::make_shared<models::ResNet>(rc);
    m->to(d);
    return m;
  };
  auto cpu_model = make(Device::cpu()), gpu_model = make(gpu());
  optim::SGD cpu_opt(optim::make_param_entries(cpu_model->named_parameters(), 5e-4, true),
                     optim::SgdOptions{0.05, 0.9, 0.0, true});
  optim::SGD gpu_opt(optim::make_param_entries(gpu_model->named_parameters(), 5e-4, true),
                     optim::SgdOptions{0.05, 0.9, 0.0, true});
  // The first step from the same weights. (After one SGD step the stem's gradient can
  // differ by about 1% while the loss agrees to 6 digits: a ReLU gate whose input lies
  // within f32 rounding of zero falls on different sides on the two devices. In f64 the
  // whole training step agrees to 1e-15: test_cuda_model_parity.cpp and the README.)
  for (uint64_t s = 0; s < 1; ++s) {
    Tensor x = randn64({16, 3, 32, 32}, 100 + s).to(DType::f32);
    std::vector<double> l;
    for (int i = 0; i < 16; ++i) l.push_back(double((i * 3 + int(s)) % 10));
    Tensor y = Tensor::from_vector(l, {16}, DType::i64);
    TwinLosses losses = cross_entropy_backward({*cpu_model, *gpu_model, cpu_opt, gpu_opt}, x, y);
    Variable lc = losses.cpu, lg = losses.cuda;
    INFO("step " << s << ": cpu loss " << lc.item() << ", cuda " << lg.item());
    CHECK(std::abs(lg.item() - lc.item()) <= 1e-5 * std::max(1.0, lc.item()));
    // Each gradient within 1e-3 normalised error. Measured: below 1e-6 in stages 2 to 4
    // and up to 3.2e-4 in stage 1 and the stem, where the gradient has passed through
    // the most batch norms (whose backward subtracts nearly equal terms).
    auto pc = cpu_model->named_parameters(), pg = gpu_model->named_parameters();
    REQUIRE(pc.size() == pg.size());
    for (size_t i = 0; i < pc.size(); ++i) {
      double e = normalized_error(pg[i].second.grad().to(Device::cpu()), pc[i].second.grad());
      INFO(pc[i].first << ": normalised gradient error " << e);
      CHECK(e <= 1e-3);
    }
    cpu_opt.step();
    gpu_opt.step();
  }
}
