// CUDA graphs: a captured computation replays with new input values and the same
// results as eager execution, allocates nothing when replayed, and a captured training
// step (forward + backward; the optimizer step outside) trains exactly as eager steps.
#include <cmath>
#include <filesystem>
#include <sstream>

#include "apps/common/train_config.h"
#include "apps/common/trainer.h"
#include "cuda_parity.h"
#include "engine/autograd/functions.h"
#include "engine/backends/cuda/graph.h"
#include "engine/core/generator.h"
#include "engine/optim/optimizer.h"
#include "models/resnet.h"

using namespace engine;
using namespace engine::testing;

TEST_CASE("without a GPU, a CUDA graph is a clear error", "[cuda_unavailable]") {
  if (runtime::cuda_available()) return;  // the [cuda] cases below cover the GPU
  std::string msg;
  try {
    runtime::CudaGraph g(0);
  } catch (const Error& e) {
    msg = e.message();
  }
  CHECK(msg.find("CUDA graphs need a GPU") != std::string::npos);
  CHECK(msg.find("unavailable") != std::string::npos);
}

TEST_CASE("a captured computation replays with new inputs, allocating nothing", "[cuda]") {
  begin_cuda_test();
  Tensor x = randn64({37, 19}, 1).to(DType::f32).to(gpu());
  Tensor w = randn64({23, 19}, 2).to(DType::f32).to(gpu());
  Tensor b = randn64({23}, 3).to(DType::f32).to(gpu());
  auto compute = [&] { return ops::mul(ops::relu(ops::linear(x, w, b)), Tensor::scalar(2.0, DType::f32, gpu())); };
  compute();  // warm-up: cuBLAS handle and workspace
  Tensor y;
  runtime::CudaGraph graph(0);
  graph.capture([&] { y = compute(); });
  REQUIRE(graph.captured());
  for (uint64_t seed = 10; seed < 14; ++seed) {
    x.copy_from(randn64({37, 19}, seed).to(DType::f32).to(gpu()));
    runtime::cuda_synchronize(0);
    auto before = runtime::cuda_memory_stats(0);
    graph.replay();
    runtime::cuda_synchronize(0);
    auto after = runtime::cuda_memory_stats(0);
    CHECK(after.num_allocs == before.num_allocs);
    CHECK(after.num_device_mallocs == before.num_device_mallocs);
    Tensor expect = compute().to(Device::cpu());
    CHECK(normalized_error(y.to(Device::cpu()), expect) < 1e-6);
  }
}

TEST_CASE("memory a graph uses is not handed to eager work while the graph lives", "[cuda]") {
  begin_cuda_test();
  Tensor x = Tensor::full({1024}, 1.0, DType::f32, gpu());
  ops::exp(ops::exp(x));
  Tensor y;
  runtime::CudaGraph graph(0);
  // The intermediate exp(x) is freed during the capture; the graph still writes it.
  graph.capture([&] { y = ops::exp(ops::exp(x)); });
  std::vector<Tensor> eager;
  for (int i = 0; i < 8; ++i) eager.push_back(Tensor::full({1024}, double(i), DType::f32, gpu()));
  graph.replay();
  runtime::cuda_synchronize(0);
  for (int i = 0; i < 8; ++i) {
    Tensor host = eager[size_t(i)].to(Device::cpu());
    CHECK(host.data<float>()[0] == float(i));
    CHECK(host.data<float>()[1023] == float(i));
  }
  CHECK(std::abs(y.to(Device::cpu()).data<float>()[5] - std::exp(std::exp(1.0f))) < 1e-3);
}

TEST_CASE("a host read inside a capture is a clear error and leaves the device usable", "[cuda]") {
  begin_cuda_test();
  Tensor x = Tensor::full({16}, 2.0, DType::f32, gpu());
  runtime::CudaGraph graph(0);
  std::string msg;
  try {
    graph.capture([&] { (void)ops::sum(x, {0}, false).item(); });
  } catch (const Error& e) {
    msg = e.message();
  }
  CHECK(msg.find("capturing a CUDA graph") != std::string::npos);
  CHECK_FALSE(graph.captured());
  CHECK(ops::sum(x, {0}, false).item() == 32.0);
}

TEST_CASE("a captured training step trains as eager steps do", "[cuda]") {
  begin_cuda_test();
  models::ResNetConfig rc;
  rc.width_mult = 0.125;
  rc.blocks = {1, 1, 1, 1};
  auto make = [&] {
    manual_seed(7);
    auto m = std::make_shared<models::ResNet>(rc);
    m->to(gpu());
    return m;
  };
  auto batch_x = [&](uint64_t s) { return randn64({8, 3, 32, 32}, s).to(DType::f32).to(gpu()); };
  auto batch_y = [&](uint64_t s) {
    std::vector<double> l;
    for (int i = 0; i < 8; ++i) l.push_back(double((i * 7 + int(s)) % 10));
    return Tensor::from_vector(l, {8}, DType::i64, gpu());
  };
  const int steps = 4;

  auto eager_model = make();
  optim::SGD eager_opt(optim::make_param_entries(eager_model->named_parameters(), 5e-4, true),
                       optim::SgdOptions{0.05, 0.9});
  std::vector<double> eager_loss;
  for (int s = 0; s < steps; ++s) {
    eager_opt.zero_grad();
    Variable loss = ag::cross_entropy((*eager_model)(Variable(batch_x(uint64_t(s)))), batch_y(uint64_t(s)));
    loss.backward();
    eager_opt.step();
    eager_loss.push_back(loss.item());
  }

  auto model = make();
  optim::SGD opt(optim::make_param_entries(model->named_parameters(), 5e-4, true), optim::SgdOptions{0.05, 0.9});
  Tensor x = batch_x(0), y = batch_y(0);
  std::vector<double> graph_loss;
  {  // step 0 eager: the warm-up the capture needs
    opt.zero_grad();
    Variable loss = ag::cross_entropy((*model)(Variable(x)), y);
    loss.backward();
    opt.step();
    graph_loss.push_back(loss.item());
  }
  opt.zero_grad();
  Tensor loss_t;
  runtime::CudaGraph graph(0);
  graph.capture([&] {
    Variable loss = ag::cross_entropy((*model)(Variable(x)), y);
    loss.backward();
    loss_t = loss.data();
  });
  for (int s = 1; s < steps; ++s) {
    x.copy_from(batch_x(uint64_t(s)));
    y.copy_from(batch_y(uint64_t(s)));
    graph.replay();
    opt.step();
    graph_loss.push_back(loss_t.item());
  }
  for (int s = 0; s < steps; ++s)
    CHECK(std::abs(graph_loss[size_t(s)] - eager_loss[size_t(s)]) < 1e-4 * (1 + eager_loss[size_t(s)]));
  auto pa = eager_model->named_parameters(), pb = model->named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i)
    CHECK(normalized_error(pb[i].second.data().to(Device::cpu()), pa[i].second.data().to(Device::cpu())) < 1e-4);
}

TEST_CASE("train_app's training.cuda_graph gives the eager run's results", "[cuda]") {
  begin_cuda_test();
  runtime::cuda_set_poison_allocations(false);
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist")) {
    WARN("Fashion-MNIST (Debian dataset-fashion-mnist) is not installed: nothing to train on");
    return;
  }
  auto run = [&](bool graph) {
    io::Json j = app::default_train_config();
    j["device"] = "cuda:0";
    j["data"]["dataset"] = "fashion_mnist";
    // A small run keeps every code path (capture after the first step, replays, eval
    // batches, a partial last batch) at a size the simulated GPU of CI runs in a minute.
    j["data"]["test_limit"] = 300;
    j["training"]["eval_batch_size"] = 128;
    j["model"]["width_mult"] = 0.125;
    j["training"]["batch_size"] = 32;
    j["training"]["max_steps"] = 10;
    j["training"]["precision"] = "bf16";
    j["training"]["cuda_graph"] = graph;
    j["output"]["dir"] = std::string(ENGINE_BINARY_DIR) + "/test_cuda_graph_runs";
    j["output"]["progress"] = "lines";
    std::ostringstream log;
    return app::Trainer(app::parse_train_config(j), "", log).run();
  };
  app::TrainResult eager = run(false), graph = run(true);
  CHECK(graph.steps == eager.steps);
  CHECK(std::abs(graph.test_accuracy - eager.test_accuracy) < 0.01);
  CHECK(std::abs(graph.test_nll - eager.test_nll) < 0.02 * eager.test_nll);
}
