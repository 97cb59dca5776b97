// bench_train <config.json> [--set key.path=value ...] [--warmup N] [--iters N] [--batch B] [--device D]
//             [--cuda-graph]
// End-to-end training throughput of the config's model on synthetic data of the
// config's image shape: img/s and step time (forward, backward, optimizer step),
// with the device synchronised before each clock read (a loss read does that). On
// the CPU it also times the model's convolutions alone and prints their GFLOP/s.
// The peak column is the most memory allocated on the model's device during the timed
// steps (host storages on the CPU, the caching allocator's live blocks on CUDA), to
// compare e.g. --set model.checkpoint_stages=[1,2,3,4] with the plain model.
// The config's training.precision (bf16/f16 autocast; f16 with loss scaling) and
// model.channels_last apply as in train_app. --cuda-graph captures forward and backward
// once after the warm-up and replays them; the optimizer step runs outside the graph.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/trainer.h"
#include "engine/autograd/autocast.h"
#include "engine/optim/grad_scaler.h"
#include "engine/optim/optimizer.h"
#include "engine/core/backend.h"
#include "engine/backends/cuda/context.h"
#include "engine/backends/cuda/graph.h"
#include "models/resnet.h"

using namespace engine;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int usage(const std::string& msg) {
  std::cerr << "bench_train: " << msg << "\nusage: bench_train <config.json> [--set key.path=value ...] [--warmup N] "
            << "[--iters N] [--batch B] [--device D] [--cuda-graph]\n";
  return 2;
}

// Image shape of the config's dataset, without reading it.
Shape image_shape(const app::TrainConfig& c, int64_t batch) {
  if (c.data.dataset == "fashion_mnist") return {batch, 1, 28, 28};
  return {batch, 3, 32, 32};
}

int64_t classes_of(const app::TrainConfig& c) {
  if (c.data.dataset == "cifar100") return c.data.cifar100_labels == "coarse" ? 20 : 100;
  return 10;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path, device_name;
  std::vector<std::string> sets;
  int64_t warmup = 2, iters = 5, batch = 0;
  bool cuda_graph = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--set") {
      sets.push_back(next());
    } else if (a == "--warmup") {
      warmup = std::atoll(next().c_str());
    } else if (a == "--iters") {
      iters = std::atoll(next().c_str());
    } else if (a == "--batch") {
      batch = std::atoll(next().c_str());
    } else if (a == "--device") {
      device_name = next();
    } else if (a == "--cuda-graph") {
      cuda_graph = true;
    } else if (config_path.empty() && !a.empty() && a[0] != '-') {
      config_path = a;
    } else {
      return usage("unexpected argument '" + a + "'");
    }
  }
  if (config_path.empty()) return usage("no config given");
  if (warmup < 0 || iters < 1) return usage("--warmup must be >= 0 and --iters >= 1");
  try {
    app::TrainConfig c = app::load_train_config(config_path, sets, nullptr);
    Device device = app::resolve_device(device_name.empty() ? c.device : device_name);
    if (batch <= 0) batch = c.training.batch_size;
    Shape xs = image_shape(c, batch);
    // The config's model (dense or MoE), built from a stand-in dataset of the right shape.
    data::Dataset shape_only;
    shape_only.images = Tensor::empty({1, xs[1], xs[2], xs[3]}, DType::u8);
    shape_only.num_classes = classes_of(c);
    std::shared_ptr<nn::Module> net = app::build_model(c, shape_only);
    nn::Module& model = *net;
    model.to(device);
    optim::SGD opt(optim::make_param_entries(model.named_parameters(), 5e-4, true), optim::SgdOptions{0.01, 0.9});
    Tensor x = ops::randn(xs, 1, 0, DType::f32, device);
    if (c.model.channels_last) x = x.contiguous(MemoryFormat::ChannelsLast);
    std::vector<double> labels;
    for (int64_t i = 0; i < batch; ++i) labels.push_back(double(i % shape_only.num_classes));
    Tensor y = Tensor::from_vector(labels, {batch}, DType::i64, device);
    const std::string& precision = c.training.precision;
    const bool lowp = precision == "bf16" || precision == "f16";
    const DType amp_dtype = precision == "f16" ? DType::f16 : DType::bf16;
    optim::GradScalerOptions so;
    so.enabled = precision == "f16";
    optim::GradScaler scaler(so);
    if (cuda_graph && !device.is_cuda()) return usage("--cuda-graph needs a CUDA device");
    if (cuda_graph && scaler.enabled())
      return usage("--cuda-graph with training.precision f16 is not supported: the loss scale would be a constant "
                   "of the captured graph while the scaler changes it; use bf16");

    // Forward and backward; the loss tensor stays on the device.
    auto forward_backward = [&]() {
      Variable loss;
      {
        AutocastGuard ac(lowp ? amp_dtype : DType::f32);
        loss = ag::cross_entropy(model(Variable(x)), y);
      }
      scaler.scale(loss).backward();
      return loss.data();
    };
    auto step = [&]() {
      opt.zero_grad();
      Tensor loss = forward_backward();
      scaler.step(opt);
      return loss.item();  // waits for the device
    };
    for (int64_t i = 0; i < std::max<int64_t>(warmup, cuda_graph ? 1 : 0); ++i) step();
    std::unique_ptr<runtime::CudaGraph> graph;
    Tensor graph_loss;
    if (cuda_graph) {
      opt.zero_grad();  // the captured backward writes fresh gradients that later replays overwrite
      graph = std::make_unique<runtime::CudaGraph>(device.index);
      graph->capture([&] { graph_loss = forward_backward(); });
    }
    auto timed_step = [&]() {
      if (!graph) return step();
      graph->replay();
      scaler.step(opt);
      return graph_loss.item();
    };
    if (device.is_cuda()) {
      runtime::cuda_reset_peak_memory(device.index);
    } else {
      reset_host_peak_memory();
    }
    std::vector<double> times;
    for (int64_t i = 0; i < iters; ++i) {
      double t0 = now();
      timed_step();
      times.push_back(now() - t0);
    }
    std::sort(times.begin(), times.end());
    double median = times[times.size() / 2];
    const size_t peak = device.is_cuda() ? runtime::cuda_memory_stats(device.index).peak_allocated
                                         : host_memory_stats().peak_allocated;
    std::string ck;
    for (int64_t s : c.model.checkpoint_stages) ck += (ck.empty() ? "" : ",") + std::to_string(s);
    std::printf("| model | device | batch | image | params | precision | format | graph | checkpointed stages | "
                "step ms (median of %lld) | img/s | peak MiB |\n",
                static_cast<long long>(iters));
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    std::printf("| %s x%.3g | %s | %lld | %lldx%lldx%lld | %lld | %s | %s | %s | %s | %.1f | %.1f | %.1f |\n",
                c.moe.enabled() ? "resnet18-moe" : "resnet18", c.model.width_mult, device.str().c_str(),
                static_cast<long long>(batch), static_cast<long long>(xs[1]), static_cast<long long>(xs[2]),
                static_cast<long long>(xs[3]), static_cast<long long>(model.num_parameters()), precision.c_str(),
                c.model.channels_last ? "NHWC" : "NCHW", graph ? "yes" : "no", ck.empty() ? "none" : ck.c_str(),
                median * 1e3, double(batch) / median, double(peak) / double(1 << 20));

    auto* dense = dynamic_cast<models::ResNet*>(net.get());
    if (device.is_cpu() && dense) {
      models::ResNet& model = *dense;
      // The convolutions alone: every conv of the network at its input shape, forward.
      double flops = 0, secs = 0;
      NoGradGuard ng;
      model.eval();
      Tensor h = x;
      std::vector<std::pair<Tensor, std::shared_ptr<nn::Conv2d>>> convs;
      auto collect = [&](const std::shared_ptr<nn::Conv2d>& conv, const Tensor& in) { convs.emplace_back(in, conv); };
      Tensor a = model.bn1->forward(model.conv1->forward(Variable(h))).data();
      collect(model.conv1, h);
      a = ops::relu(a);
      for (auto& stage : model.layers)
        for (auto& [name, child] : stage->named_children()) {
          auto* b = static_cast<models::BasicBlock*>(child.get());
          collect(b->conv1, a);
          Tensor t = ops::relu(b->bn1->forward(b->conv1->forward(Variable(a))).data());
          collect(b->conv2, t);
          a = b->forward(Variable(a)).data();
        }
      for (auto& [in, conv] : convs) {
        ops::conv2d(in, conv->weight.data(), Tensor(), conv->options);  // warm
        double t0 = now();
        Tensor out = ops::conv2d(in, conv->weight.data(), Tensor(), conv->options);
        secs += now() - t0;
        flops += 2.0 * double(out.numel()) * double(conv->weight.numel() / conv->weight.size(0));
      }
      std::printf("\nCPU convolutions (forward; stem and block convolutions, %zu layers): %.2f GFLOP in %.1f ms = %.1f GFLOP/s\n", convs.size(),
                  flops * 1e-9, secs * 1e3, flops * 1e-9 / secs);
    }
    return 0;
  } catch (const io::ConfigError& e) {
    std::cerr << "bench_train: configuration error: " << e.message() << std::endl;
    return 2;
  } catch (const Error& e) {
    std::cerr << "bench_train: error: " << e.message() << std::endl;
    return 1;
  }
}
