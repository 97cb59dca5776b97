// bench_moe [--T N] [--C N] [--E N] [--H N] [--k N] [--precision f32|bf16] [--iters N] [--warmup N]
//           [--device D] [--unfused-router]
// Forward + backward of one MoE layer (T tokens of C channels, E experts C -> H -> C with
// GELU, top-k, renormalised weights, dropless, no aux loss), the shape family of
// bench/pytorch/moe_layer.py, whose rows it prints beside: impl, T, C, E, H, k, ms, peak MiB.
// The loss is the sum of the outputs; the device is synchronised before each clock read.
// The peak is the most memory allocated on the device during the timed iterations (host
// storages on the CPU, the caching allocator's live blocks on CUDA), inputs and
// parameters included.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "engine/autograd/autocast.h"
#include "engine/autograd/functions.h"
#include "engine/backends/cuda/context.h"
#include "engine/core/backend.h"
#include "engine/core/generator.h"
#include "engine/core/storage.h"
#include "engine/nn/moe/moe_layer.h"
#include "engine/ops/functional.h"

using namespace engine;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

const char* kUsage =
    "usage: bench_moe [--T N] [--C N] [--E N] [--H N] [--k N] [--precision f32|bf16] [--iters N] "
    "[--warmup N] [--device cpu|cuda:N] [--unfused-router]\n";

int usage(const std::string& msg) {
  std::cerr << "bench_moe: " << msg << "\n" << kUsage;
  return 2;
}

// The command line; `error` is set when it cannot be used.
struct Options {
  int64_t T = 8192, C = 256, E = 8, H = 1024, k = 2, iters = 50, warmup = 5;
  std::string precision = "bf16", device_name;
  bool fused_router = true, help = false;
  std::string error;
};

Options parse_options(int argc, char** argv) {
  Options o;
  const std::map<std::string, int64_t*> ints = {{"--T", &o.T},          {"--C", &o.C}, {"--E", &o.E},
                                                {"--H", &o.H},          {"--k", &o.k}, {"--iters", &o.iters},
                                                {"--warmup", &o.warmup}};
  for (int i = 1; i < argc && o.error.empty(); ++i) {
    std::string a = argv[i];
    auto it = ints.find(a);
    if (app::is_help_flag(a)) {
      o.help = true;
    } else if (it != ints.end()) {
      std::string error;
      if (!app::parse_int(i + 1 < argc ? argv[++i] : "", 0, int64_t(1) << 40, it->second, &error))
        o.error = "option " + a + " expects " + error;
    } else if (a == "--precision" && i + 1 < argc) {
      o.precision = argv[++i];
    } else if (a == "--device" && i + 1 < argc) {
      o.device_name = argv[++i];
    } else if (a == "--unfused-router") {
      o.fused_router = false;
    } else {
      o.error = "unexpected argument '" + a + "'";
    }
  }
  if (!o.error.empty()) return o;
  if (o.T < 1 || o.C < 1 || o.E < 1 || o.H < 1 || o.k < 1 || o.k > o.E || o.iters < 1 || o.warmup < 0)
    o.error = "sizes must be >= 1, k <= E, --iters >= 1, --warmup >= 0";
  else if (o.precision != "f32" && o.precision != "bf16")
    o.error = "--precision must be f32 or bf16, got '" + o.precision + "'";
  return o;
}

nn::moe::MoEOptions layer_options(const Options& opt) {
  nn::moe::MoEOptions o;
  o.dim = opt.C;
  o.hidden = opt.H;
  o.num_experts = opt.E;
  o.top_k = opt.k;
  o.router.renormalize = true;
  o.router.fused = opt.fused_router;
  o.activation = nn::moe::ExpertActivation::Gelu;
  o.drop_tokens = false;
  o.lb_coef = 0;
  return o;
}

struct Timing {
  double median_s = 0;
  size_t peak_bytes = 0;
};

// The median time of one forward + backward of the layer and the peak memory.
Timing time_layer(const Options& opt, Device device) {
  manual_seed(0);
  nn::moe::MoELayer layer(layer_options(opt));
  layer.to(device);
  layer.train();
  Variable x(ops::randn({opt.T, opt.C}, 1, 0, DType::f32, device), true);
  auto step = [&]() {
    Variable y;
    {
      AutocastGuard ac(opt.precision == "bf16" ? DType::bf16 : DType::f32);
      y = layer(x);
    }
    Variable loss = ag::sum(ag::cast(y, DType::f32));
    loss.backward();
    x.zero_grad();
    for (auto& [name, p] : layer.named_parameters()) p.zero_grad();
    return loss.item();  // waits for the device
  };
  for (int64_t i = 0; i < opt.warmup; ++i) step();
  if (device.is_cuda()) {
    runtime::cuda_reset_peak_memory(device.index);
  } else {
    reset_host_peak_memory();
  }
  std::vector<double> times;
  for (int64_t i = 0; i < opt.iters; ++i) {
    double t0 = now();
    step();
    times.push_back(now() - t0);
  }
  std::sort(times.begin(), times.end());
  Timing t;
  t.median_s = times[times.size() / 2];
  t.peak_bytes = device.is_cuda() ? runtime::cuda_memory_stats(device.index).peak_allocated
                                  : host_memory_stats().peak_allocated;
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse_options(argc, argv);
  if (opt.help) {
    std::cout << kUsage;
    return 0;
  }
  if (!opt.error.empty()) return usage(opt.error);
  return app::run_guarded("bench_moe", [&] {
    Device device = opt.device_name.empty() ? (runtime::cuda_available() ? Device::cuda(0) : Device::cpu())
                                            : Device::parse(opt.device_name);
    Timing t = time_layer(opt, device);
    std::printf("| impl | T | C | E | H | k | ms per forward+backward (median of %lld) | peak MiB |\n",
                static_cast<long long>(opt.iters));
    std::printf("|---|---|---|---|---|---|---|---|\n");
    std::printf("| engine %s %s%s | %lld | %lld | %lld | %lld | %lld | %.3f | %.1f |\n", opt.precision.c_str(),
                device.str().c_str(), opt.fused_router ? "" : " unfused-router", static_cast<long long>(opt.T),
                static_cast<long long>(opt.C), static_cast<long long>(opt.E), static_cast<long long>(opt.H),
                static_cast<long long>(opt.k), t.median_s * 1e3,
                double(t.peak_bytes) / double(1 << 20));
    return 0;
  });
}
