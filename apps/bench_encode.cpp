// bench_encode [--model DIR] [--batch N] [--tokens N] [--precision f32|bf16] [--iters N]
//              [--warmup N] [--device cpu|cuda:N]
// The text encoder's forward pass (BERT + mean pooling + L2 normalisation, no gradient)
// over a synthetic batch of token ids, the batch bench/pytorch/bert_encode.py builds,
// whose row it prints beside: impl, batch, tokens, ms per batch (median), peak MiB (the
// host storages, or the device's caching allocator, during the timed iterations).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "apps/common/cli.h"
#include "apps/common/text_encoder.h"
#include "engine/autograd/autocast.h"
#include "engine/backends/cuda/context.h"
#include "engine/core/storage.h"

using namespace engine;

namespace {

const char* kUsage =
    "usage: bench_encode [--model DIR] [--batch N] [--tokens N] [--precision f32|bf16] [--iters N] "
    "[--warmup N] [--device cpu|cuda:N]\n"
    "  --model defaults to $ENGINE_TEXT_ENCODER_DIR (scripts/fetch_text_encoder.sh DIR fills one)\n";

struct Options {
  std::string model_dir, precision = "f32", device = "cpu";
  int64_t batch = 64, tokens = 32, iters = 10, warmup = 2;
};

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Returns -1 to go on, else the exit code.
int parse(int argc, char** argv, Options* o) {
  const char* env = std::getenv("ENGINE_TEXT_ENCODER_DIR");
  o->model_dir = env != nullptr ? env : "";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (app::is_help_flag(a)) {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= argc) {
      std::cerr << "bench_encode: unexpected argument or missing value: '" << a << "'\n" << kUsage;
      return 2;
    }
    const std::string v = argv[++i];
    std::string error;
    int64_t* target = a == "--batch"    ? &o->batch
                      : a == "--tokens" ? &o->tokens
                      : a == "--iters"  ? &o->iters
                      : a == "--warmup" ? &o->warmup
                                        : nullptr;
    if (target != nullptr) {
      if (!app::parse_int(v, a == "--warmup" ? 0 : (a == "--tokens" ? 2 : 1), 100000, target, &error)) {
        std::cerr << "bench_encode: " << a << " expects " << error << "\n";
        return 2;
      }
    } else if (a == "--model" || a == "--precision" || a == "--device") {
      (a == "--model" ? o->model_dir : a == "--precision" ? o->precision : o->device) = v;
    } else {
      std::cerr << "bench_encode: unknown option '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (o->precision != "f32" && o->precision != "bf16") {
    std::cerr << "bench_encode: --precision expects f32 or bf16, got '" << o->precision << "'\n";
    return 2;
  }
  return -1;
}

// [CLS] ids [SEP], the formula of bench/pytorch/bert_encode.py.
Tensor synthetic_ids(int64_t batch, int64_t tokens) {
  std::vector<int64_t> ids(size_t(batch * tokens));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < tokens; ++t)
      ids[size_t(b * tokens + t)] = t == 0 ? 101 : t == tokens - 1 ? 102 : 1000 + (b * 31 + t * 7) % 20000;
  return Tensor::from_data(ids.data(), {batch, tokens});
}

int run(const Options& o) {
  app::TextEncoderOptions eo;
  eo.model_dir = o.model_dir;
  eo.device = Device::parse(o.device);
  eo.precision = o.precision == "bf16" ? DType::bf16 : DType::f32;
  app::TextEncoder enc(eo);
  const Tensor ids = synthetic_ids(o.batch, o.tokens).to(eo.device);
  const Tensor mask = Tensor::ones({o.batch, o.tokens}, DType::u8, eo.device);
  auto step = [&] {
    NoGradGuard no_grad;
    AutocastGuard autocast(eo.precision);
    return app::mean_pool_normalize(enc.model().forward(ids, mask), mask).data().to(Device::cpu());
  };
  for (int64_t i = 0; i < o.warmup; ++i) step();
  if (eo.device.is_cuda()) {
    runtime::cuda_reset_peak_memory(eo.device.index);
  } else {
    reset_host_peak_memory();
  }
  std::vector<double> times;
  for (int64_t i = 0; i < o.iters; ++i) {
    const double t0 = now();
    step();
    times.push_back(now() - t0);
  }
  std::sort(times.begin(), times.end());
  const size_t peak = eo.device.is_cuda() ? runtime::cuda_memory_stats(eo.device.index).peak_allocated
                                          : host_memory_stats().peak_allocated;
  std::printf("| engine %s %s | %lld | %lld | %.1f | %.0f |\n", o.precision.c_str(), o.device.c_str(),
              (long long)o.batch, (long long)o.tokens, times[times.size() / 2] * 1e3, double(peak) / double(1 << 20));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  const int rc = parse(argc, argv, &o);
  if (rc >= 0) return rc;
  return app::run_guarded("bench_encode", [&] { return run(o); });
}
