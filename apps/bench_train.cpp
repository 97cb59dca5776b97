// bench_train <config.json> [--set key.path=value ...] [--warmup N] [--iters N] [--batch B] [--device D]
//             [--cuda-graph]
// End-to-end training throughput of the config's model on synthetic data of the
// config's image shape: img/s and step time (forward, backward, optimizer step),
// with the device synchronised before each clock read (a loss read does that). On
// the CPU it also times the model's convolutions alone and prints their GFLOP/s.
// The peak column is the most memory allocated on the model's device during the timed
// steps (host storages on the CPU, the caching allocator's live blocks on CUDA), to
// compare e.g. --set model.checkpoint_stages=[1,2,3,4] with the plain model. On the CPU
// a line after the table gives the caching allocator's peak (tensors, rounding and cached
// free blocks) and how many of the timed steps' requests reached the C library.
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

#include "apps/common/cli.h"
#include "apps/common/trainer.h"
#include "engine/autograd/autocast.h"
#include "engine/backends/cuda/context.h"
#include "engine/backends/cuda/graph.h"
#include "engine/core/backend.h"
#include "engine/core/host_allocator.h"
#include "engine/optim/grad_scaler.h"
#include "engine/optim/optimizer.h"
#include "models/resnet.h"

using namespace engine;

namespace {

HostAllocatorStats g_host_alloc_before;  // at the start of the timed steps

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

void usage_text(std::ostream& out) {
  out << "usage: bench_train <config.json> [--set key.path=value ...] [--warmup N] "
      << "[--iters N] [--batch B] [--device D] [--cuda-graph]\n";
}

int usage(const std::string& msg) {
  std::cerr << "bench_train: " << msg << "\n";
  usage_text(std::cerr);
  return 2;
}

struct Args {
  std::string config_path, device_name;
  std::vector<std::string> sets;
  int64_t warmup = 2, iters = 5, batch = 0;
  bool cuda_graph = false;
};

// Returns 0 when the arguments are good, -1 after --help, else usage()'s exit code.
int parse_args(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    auto integer = [&](int64_t lo, int64_t hi, int64_t* v) {
      std::string error;
      bool ok = app::parse_int(next(), lo, hi, v, &error);
      if (!ok) usage(a + " expects " + error);
      return ok;
    };
    if (app::is_help_flag(a)) {
      usage_text(std::cout);
      return -1;
    } else if (a == "--set") {
      args->sets.push_back(next());
    } else if (a == "--warmup") {
      if (!integer(0, 1000000, &args->warmup)) return 2;
    } else if (a == "--iters") {
      if (!integer(1, 1000000, &args->iters)) return 2;
    } else if (a == "--batch") {
      if (!integer(1, 1 << 20, &args->batch)) return 2;
    } else if (a == "--device") {
      args->device_name = next();
    } else if (a == "--cuda-graph") {
      args->cuda_graph = true;
    } else if (args->config_path.empty() && !a.empty() && a[0] != '-') {
      args->config_path = a;
    } else {
      return usage("unexpected argument '" + a + "'");
    }
  }
  if (args->config_path.empty()) return usage("no config given");
  if (args->warmup < 0 || args->iters < 1) return usage("--warmup must be >= 0 and --iters >= 1");
  return 0;
}

// The config's model (dense or MoE) on its device, and one synthetic batch of the
// config's image shape.
struct Bench {
  app::TrainConfig config;
  Device device;
  int64_t batch = 0;
  Shape xs;
  std::shared_ptr<nn::Module> net;
  Tensor x, y;
};

Bench make_bench(const Args& args) {
  Bench b;
  app::TrainConfig& c = b.config;
  c = app::load_train_config(args.config_path, args.sets, nullptr);
  b.device = app::resolve_device(args.device_name.empty() ? c.device : args.device_name);
  b.batch = args.batch > 0 ? args.batch : c.training.batch_size;
  // The image shape and classes from the dataset registry, without reading the files;
  // the model is built for a stand-in dataset of that shape.
  std::vector<int64_t> chw = data::dataset_image_shape(c.data.dataset);
  b.xs = {b.batch, chw[0], chw[1], chw[2]};
  data::Dataset shape_only;
  shape_only.images = Tensor::empty({1, chw[0], chw[1], chw[2]}, DType::u8);
  shape_only.num_classes = data::dataset_num_classes(app::dataset_spec(c));
  b.net = app::build_model(c, shape_only);
  b.net->to(b.device);
  b.x = ops::randn(b.xs, 1, 0, DType::f32, b.device);
  if (c.model.channels_last) b.x = b.x.contiguous(MemoryFormat::ChannelsLast);
  std::vector<double> labels;
  for (int64_t i = 0; i < b.batch; ++i) labels.push_back(double(i % shape_only.num_classes));
  b.y = Tensor::from_vector(labels, {b.batch}, DType::i64, b.device);
  return b;
}

// Seconds per timed step (sorted) after the warm-up steps; *graphed tells whether the
// steps replayed a captured graph.
std::vector<double> time_steps(Bench& b, const Args& args, optim::GradScaler& scaler, bool* graphed) {
  nn::Module& model = *b.net;
  optim::SGD opt(optim::make_param_entries(model.named_parameters(), 5e-4, true), optim::SgdOptions{0.01, 0.9});
  const std::string& precision = b.config.training.precision;
  const bool lowp = precision == "bf16" || precision == "f16";
  const DType amp_dtype = precision == "f16" ? DType::f16 : DType::bf16;
  // Forward and backward; the loss tensor stays on the device.
  auto forward_backward = [&]() {
    Variable loss;
    {
      AutocastGuard ac(lowp ? amp_dtype : DType::f32);
      loss = ag::cross_entropy(model(Variable(b.x)), b.y);
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
  for (int64_t i = 0; i < std::max<int64_t>(args.warmup, args.cuda_graph ? 1 : 0); ++i) step();
  std::unique_ptr<runtime::CudaGraph> graph;
  Tensor graph_loss;
  if (args.cuda_graph) {
    opt.zero_grad();  // the captured backward writes fresh gradients that later replays overwrite
    graph = std::make_unique<runtime::CudaGraph>(b.device.index);
    graph->capture([&] { graph_loss = forward_backward(); });
  }
  auto timed_step = [&]() {
    if (!graph) return step();
    graph->replay();
    scaler.step(opt);
    return graph_loss.item();
  };
  if (b.device.is_cuda()) {
    runtime::cuda_reset_peak_memory(b.device.index);
  } else {
    reset_host_peak_memory();
    host_allocator_reset_peak();
    g_host_alloc_before = host_allocator_stats();
  }
  std::vector<double> times;
  for (int64_t i = 0; i < args.iters; ++i) {
    double t0 = now();
    timed_step();
    times.push_back(now() - t0);
  }
  std::sort(times.begin(), times.end());
  *graphed = bool(graph);
  return times;
}

void print_table(const Bench& b, const std::vector<double>& times, bool graphed) {
  const app::TrainConfig& c = b.config;
  double median = times[times.size() / 2];
  const size_t peak = b.device.is_cuda() ? runtime::cuda_memory_stats(b.device.index).peak_allocated
                                         : host_memory_stats().peak_allocated;
  std::string ck;
  for (int64_t s : c.model.checkpoint_stages) ck += (ck.empty() ? "" : ",") + std::to_string(s);
  std::printf(
      "| model | device | batch | image | params | precision | format | graph | checkpointed stages | "
      "step ms (median of %lld) | img/s | peak MiB |\n",
      static_cast<long long>(times.size()));
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::printf("| %s x%.3g | %s | %lld | %lldx%lldx%lld | %lld | %s | %s | %s | %s | %.1f | %.1f | %.1f |\n",
              c.moe.enabled() ? "resnet18-moe" : "resnet18", c.model.width_mult, b.device.str().c_str(),
              static_cast<long long>(b.batch), static_cast<long long>(b.xs[1]), static_cast<long long>(b.xs[2]),
              static_cast<long long>(b.xs[3]), static_cast<long long>(b.net->num_parameters()),
              c.training.precision.c_str(), c.model.channels_last ? "NHWC" : "NCHW", graphed ? "yes" : "no",
              ck.empty() ? "none" : ck.c_str(), median * 1e3, double(b.batch) / median, double(peak) / double(1 << 20));
}

// On the CPU: what the caching allocator held at most (tensors, rounding and cached free
// blocks) and how many requests of the timed steps reached the C library.
void print_host_allocator() {
  const HostAllocatorStats a = host_allocator_stats();
  const uint64_t misses = (a.allocs - g_host_alloc_before.allocs) - (a.cache_hits - g_host_alloc_before.cache_hits);
  std::printf("\nCPU allocator (%s): peak reserved %.1f MiB; timed steps: %llu requests, %llu from the system\n",
              a.caching ? "caching" : "system", double(a.peak_reserved) / double(1 << 20),
              static_cast<unsigned long long>(a.allocs - g_host_alloc_before.allocs),
              static_cast<unsigned long long>(misses));
}

// The convolutions alone: every conv of the network at its input shape, forward.
void time_cpu_convolutions(models::ResNet& model, const Tensor& x) {
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
  std::printf(
      "\nCPU convolutions (forward; stem and block convolutions, %zu layers): %.2f GFLOP in %.1f ms = %.1f GFLOP/s\n",
      convs.size(), flops * 1e-9, secs * 1e3, flops * 1e-9 / secs);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (int rc = parse_args(argc, argv, &args)) return rc < 0 ? 0 : rc;
  return app::run_guarded("bench_train", [&] {
    Bench b = make_bench(args);
    optim::GradScalerOptions so;
    so.enabled = b.config.training.precision == "f16";
    optim::GradScaler scaler(so);
    if (args.cuda_graph && !b.device.is_cuda()) return usage("--cuda-graph needs a CUDA device");
    if (args.cuda_graph && scaler.enabled())
      return usage(
          "--cuda-graph with training.precision f16 is not supported: the loss scale would be a constant "
          "of the captured graph while the scaler changes it; use bf16");
    bool graphed = false;
    std::vector<double> times = time_steps(b, args, scaler, &graphed);
    print_table(b, times, graphed);
    if (b.device.is_cpu()) print_host_allocator();
    auto* dense = dynamic_cast<models::ResNet*>(b.net.get());
    if (b.device.is_cpu() && dense) time_cpu_convolutions(*dense, b.x);
    return 0;
  });
}
