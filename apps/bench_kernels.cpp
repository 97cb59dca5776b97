// bench_kernels [--quick] [--check] [--cpu] [--device N] [--only TEXT]
// Runner 3 of the op-case table (opcases/): every benchmark of a case. Per benchmark:
// validates the CUDA kernel against the CPU on the smallest size, then times it with
// CUDA events over a sweep of sizes and prints a markdown table of achieved GB/s
// (memory-bound ops, counting the bytes each op must read and write at least) or
// TFLOP/s (GEMM, convolution), beside the device's measured device-to-device copy
// bandwidth and GEMM rates. Variants of one op (fused vs unfused router, grouped vs
// tiled vs dense GEMM, sorting vs placement routing) are benchmarks of the same case.
// --check only validates each benchmark's first size against the CPU (no timing, no
// references). Without a GPU it prints "CUDA unavailable" and exits 0. --cpu times the
// benchmarks on the CPU instead (wall clock, no GPU needed, no check).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "apps/common/cli.h"
#include "engine/backends/cuda/context.h"
#include "engine/core/backend.h"
#include "engine/ops/functional.h"
#include "opcases/op_cases.h"

using namespace engine;
using opcases::BenchRun;
using opcases::BenchSpec;

namespace {

struct Options {
  bool quick = false;
  bool check_only = false;
  bool cpu = false;
  int device = 0;
  std::string only;  // run the benchmarks whose label contains this
};

// Milliseconds per run of r on the GPU: warm-up, then enough runs for ~50 ms.
double time_ms(const BenchRun& r, int device) {
  for (int i = 0; i < 2; ++i) r.run();
  runtime::cuda_synchronize(device);
  runtime::CudaEventTimer timer(device);
  timer.start();
  r.run();
  double one = std::max(double(timer.stop_ms()), 1e-3);
  int iters = int(std::clamp(50.0 / one, 3.0, 200.0));
  timer.start();
  for (int i = 0; i < iters; ++i) r.run();
  return double(timer.stop_ms()) / iters;
}

// "ok (err)" or "MISMATCH (err)": the first size on the GPU against the CPU.
std::string check_against_cpu(const BenchSpec& b, Device gpu) {
  try {
    double e = opcases::normalized_error(b.make(gpu, b.scales[0]).run(), b.make(Device::cpu(), b.scales[0]).run());
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s (%.1e)", e <= b.tol ? "ok" : "MISMATCH", e);
    return buf;
  } catch (const Error& e) {
    return std::string("error: ") + e.message();
  }
}

std::string rate(const BenchRun& r, double ms, double copy_gbs) {
  char buf[96];
  if (r.flops > 0) {
    std::snprintf(buf, sizeof(buf), "%.2f TFLOP/s", r.flops / (ms * 1e-3) / 1e12);
  } else {
    double gbs = r.bytes / (ms * 1e-3) / 1e9;
    std::snprintf(buf, sizeof(buf), "%.1f GB/s (%.0f%% of copy)", gbs, 100.0 * gbs / copy_gbs);
  }
  return buf;
}

void run_bench(const BenchSpec& b, const Options& o, double copy_gbs) {
  Device gpu = Device::cuda(o.device);
  std::string check = check_against_cpu(b, gpu);
  size_t n = o.quick ? 1 : b.scales.size();
  for (size_t i = 0; i < n; ++i) {
    BenchRun r = b.make(gpu, b.scales[i]);
    double ms = time_ms(r, o.device);
    std::printf("| %s | %s | %.3f | %s | %s |\n", b.label.c_str(), r.size.c_str(), ms * 1e3,
                rate(r, ms, copy_gbs).c_str(), i == 0 ? check.c_str() : "");
    std::fflush(stdout);
  }
}

const BenchSpec& find_bench(const std::string& label) {
  for (const opcases::OpCase& c : opcases::op_cases())
    for (const BenchSpec& b : c.benches)
      if (b.label == label) return b;
  ENGINE_CHECK(false, "bench_kernels: no benchmark " << label << " in the op-case table");
  std::abort();
}

// The references: device-to-device copy bandwidth (read + write) and GEMM rates.
double print_references(const Options& o) {
  Device gpu = Device::cuda(o.device);
  const int64_t copy_n = int64_t(1) << 28;  // 1 GiB of f32
  Tensor big = Tensor::zeros({copy_n}, DType::f32, gpu);
  double copy_ms = time_ms(BenchRun{"", 0, 0, [&] { return big.clone(); }}, o.device);
  double copy_gbs = 2.0 * 4.0 * double(copy_n) / (copy_ms * 1e-3) / 1e9;
  big = Tensor();
  std::printf("Device-to-device copy: %.1f GB/s (1 GiB, read + write)\n\n", copy_gbs);
  const double flops = 2.0 * std::pow(8192.0, 3);
  for (bool tf32 : {false, true}) {
    runtime::cuda_set_tf32(tf32);
    double ms = time_ms(find_bench("matmul f32").make(gpu, 8192), o.device);
    std::printf("GEMM 8192^3 f32%s: %.1f TFLOP/s\n", tf32 ? " (TF32)" : "", flops / (ms * 1e-3) / 1e12);
  }
  runtime::cuda_set_tf32(false);
  double ms = time_ms(find_bench("matmul bf16").make(gpu, 8192), o.device);
  std::printf("GEMM 8192^3 bf16: %.1f TFLOP/s\n\n", flops / (ms * 1e-3) / 1e12);
  return copy_gbs;
}

const char* kUsage = "usage: bench_kernels [--quick] [--check] [--cpu] [--device N] [--only TEXT]\n";

// False (with *error set, or empty for --help) when the arguments cannot be used.
bool parse(int argc, char** argv, Options& o, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (app::is_help_flag(a)) {
      return false;
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--cpu") {
      o.cpu = true;
    } else if (a == "--check") {
      o.check_only = true;
    } else if (a == "--device" && i + 1 < argc) {
      int64_t d = 0;
      if (!app::parse_int(argv[++i], 0, 1023, &d, error)) {
        *error = "--device expects " + *error;
        return false;
      }
      o.device = int(d);
    } else if (a == "--only" && i + 1 < argc) {
      o.only = argv[++i];
    } else {
      *error = "unexpected argument '" + a + "'";
      return false;
    }
  }
  return true;
}

// --check: each benchmark's first size against the CPU; false when one disagrees.
bool check_all(const Options& o) {
  bool ok = true;
  std::printf("| op | size | check vs CPU |\n|---|---|---|\n");
  for (const opcases::OpCase& c : opcases::op_cases())
    for (const BenchSpec& b : c.benches) {
      if (b.label.find(o.only) == std::string::npos) continue;
      std::string check = check_against_cpu(b, Device::cuda(o.device));
      ok = ok && check.rfind("ok", 0) == 0;
      std::printf("| %s | %s | %s |\n", b.label.c_str(), b.make(Device::cpu(), b.scales[0]).size.c_str(),
                  check.c_str());
      std::fflush(stdout);
    }
  return ok;
}

// Milliseconds per run on the CPU: warm-up, then enough runs for ~200 ms.
double cpu_time_ms(const BenchRun& r) {
  using clock = std::chrono::steady_clock;
  r.run();
  auto t0 = clock::now();
  r.run();
  double one = std::max(std::chrono::duration<double, std::milli>(clock::now() - t0).count(), 1e-3);
  int iters = int(std::clamp(200.0 / one, 3.0, 200.0));
  t0 = clock::now();
  for (int i = 0; i < iters; ++i) r.run();
  return std::chrono::duration<double, std::milli>(clock::now() - t0).count() / iters;
}

void run_all_cpu(const Options& o) {
  std::printf("# bench_kernels on the CPU (wall clock)\n\n| op | size | time (us) | achieved |\n|---|---|---|---|\n");
  for (const opcases::OpCase& c : opcases::op_cases())
    for (const BenchSpec& b : c.benches) {
      if (b.label.find(o.only) == std::string::npos) continue;
      size_t n = o.quick ? 1 : b.scales.size();
      for (size_t i = 0; i < n; ++i) {
        BenchRun r = b.make(Device::cpu(), b.scales[i]);
        double ms = cpu_time_ms(r);
        double rate = r.flops > 0 ? r.flops / (ms * 1e-3) / 1e9 : r.bytes / (ms * 1e-3) / 1e9;
        std::printf("| %s | %s | %.1f | %.2f %s |\n", b.label.c_str(), r.size.c_str(), ms * 1e3, rate,
                    r.flops > 0 ? "GFLOP/s" : "GB/s");
        std::fflush(stdout);
      }
    }
}

void run_all(const Options& o) {
  runtime::CudaDeviceInfo info = runtime::cuda_device_info(o.device);
  std::printf("# bench_kernels on %s (sm_%d%d, %d SMs, %.1f GiB)\n\n", info.name.c_str(), info.major, info.minor,
              info.sm_count, double(info.total_memory) / double(1 << 30));
  runtime::cuda_set_tf32(false);
  double copy_gbs = print_references(o);
  std::printf("| op | size | time (us) | achieved | check vs CPU |\n|---|---|---|---|---|\n");
  for (const opcases::OpCase& c : opcases::op_cases())
    for (const BenchSpec& b : c.benches)
      if (b.label.find(o.only) != std::string::npos) run_bench(b, o, copy_gbs);
  runtime::CudaMemoryStats st = runtime::cuda_memory_stats(o.device);
  std::printf("\nAllocator: peak %.1f MiB allocated, %.1f MiB reserved, %llu cudaMalloc calls for %llu requests\n",
              double(st.peak_allocated) / double(1 << 20), double(st.peak_reserved) / double(1 << 20),
              static_cast<unsigned long long>(st.num_device_mallocs), static_cast<unsigned long long>(st.num_allocs));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string error;
  if (!parse(argc, argv, o, &error)) {
    if (error.empty()) {
      std::cout << kUsage;
      return 0;
    }
    std::cerr << "bench_kernels: " << error << "\n" << kUsage;
    return 2;
  }
  if (o.cpu) {
    return app::run_guarded("bench_kernels", [&] {
      run_all_cpu(o);
      return 0;
    });
  }
  if (!runtime::cuda_available()) {
    std::cout << "CUDA unavailable: " << runtime::cuda_unavailable_reason() << "\n";
    return 0;
  }
  return app::run_guarded("bench_kernels", [&] {
    if (o.check_only) return check_all(o) ? 0 : 1;
    run_all(o);
    return 0;
  });
}
