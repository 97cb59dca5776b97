// bench_moe [--T N] [--C N] [--E N] [--H N] [--k N] [--precision f32|bf16] [--iters N] [--warmup N]
//           [--device D] [--unfused-router]
// Forward + backward of one MoE layer (T tokens of C channels, E experts C -> H -> C with
// GELU, top-k, renormalised weights, dropless, no aux loss), the shape family of
// bench/pytorch/moe_layer.py, whose rows it prints beside: impl, T, C, E, H, k, ms.
// The loss is the sum of the outputs; the device is synchronised before each clock read.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "engine/autograd/autocast.h"
#include "engine/autograd/functions.h"
#include "engine/core/generator.h"
#include "engine/nn/moe/moe_layer.h"
#include "engine/ops/functional.h"
#include "engine/core/backend.h"
#include "engine/backends/cuda/context.h"

using namespace engine;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int usage(const std::string& msg) {
  std::cerr << "bench_moe: " << msg
            << "\nusage: bench_moe [--T N] [--C N] [--E N] [--H N] [--k N] [--precision f32|bf16] [--iters N] "
               "[--warmup N] [--device cpu|cuda:N] [--unfused-router]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t T = 8192, C = 256, E = 8, H = 1024, k = 2, iters = 50, warmup = 5;
  std::string precision = "bf16", device_name;
  bool fused_router = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next_int = [&](int64_t& v) {
      if (i + 1 >= argc) return false;
      char* end = nullptr;
      v = std::strtoll(argv[++i], &end, 10);
      return end && *end == '\0';
    };
    bool ok = true;
    if (a == "--T") ok = next_int(T);
    else if (a == "--C") ok = next_int(C);
    else if (a == "--E") ok = next_int(E);
    else if (a == "--H") ok = next_int(H);
    else if (a == "--k") ok = next_int(k);
    else if (a == "--iters") ok = next_int(iters);
    else if (a == "--warmup") ok = next_int(warmup);
    else if (a == "--precision" && i + 1 < argc) precision = argv[++i];
    else if (a == "--device" && i + 1 < argc) device_name = argv[++i];
    else if (a == "--unfused-router") fused_router = false;
    else return usage("unexpected argument '" + a + "'");
    if (!ok) return usage("option " + a + " needs an integer");
  }
  if (T < 1 || C < 1 || E < 1 || H < 1 || k < 1 || k > E || iters < 1 || warmup < 0)
    return usage("sizes must be >= 1, k <= E, --iters >= 1, --warmup >= 0");
  if (precision != "f32" && precision != "bf16") return usage("--precision must be f32 or bf16, got '" + precision + "'");
  try {
    Device device = device_name.empty() ? (runtime::cuda_available() ? Device::cuda(0) : Device::cpu())
                                        : Device::parse(device_name);
    manual_seed(0);
    nn::moe::MoEOptions o;
    o.dim = C;
    o.hidden = H;
    o.num_experts = E;
    o.top_k = k;
    o.router.renormalize = true;
    o.router.fused = fused_router;
    o.activation = nn::moe::ExpertActivation::Gelu;
    o.drop_tokens = false;
    o.lb_coef = 0;
    nn::moe::MoELayer layer(o);
    layer.to(device);
    layer.train();
    Variable x(ops::randn({T, C}, 1, 0, DType::f32, device), true);

    auto step = [&]() {
      Variable y;
      {
        AutocastGuard ac(precision == "bf16" ? DType::bf16 : DType::f32);
        y = layer(x);
      }
      Variable loss = ag::sum(ag::cast(y, DType::f32));
      loss.backward();
      x.zero_grad();
      for (auto& [name, p] : layer.named_parameters()) p.zero_grad();
      return loss.item();  // waits for the device
    };
    for (int64_t i = 0; i < warmup; ++i) step();
    std::vector<double> times;
    for (int64_t i = 0; i < iters; ++i) {
      double t0 = now();
      step();
      times.push_back(now() - t0);
    }
    std::sort(times.begin(), times.end());
    double median = times[times.size() / 2];
    std::printf("| impl | T | C | E | H | k | ms per forward+backward (median of %lld) |\n", static_cast<long long>(iters));
    std::printf("|---|---|---|---|---|---|---|\n");
    std::printf("| engine %s %s%s | %lld | %lld | %lld | %lld | %lld | %.3f |\n", precision.c_str(), device.str().c_str(),
                fused_router ? "" : " unfused-router", static_cast<long long>(T), static_cast<long long>(C),
                static_cast<long long>(E), static_cast<long long>(H), static_cast<long long>(k), median * 1e3);
    return 0;
  } catch (const Error& e) {
    std::cerr << "bench_moe: error: " << e.message() << std::endl;
    return 1;
  }
}
