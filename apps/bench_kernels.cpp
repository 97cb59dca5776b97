// bench_kernels [--quick] [--device N]
// Per op: validates the CUDA kernel against the CPU on the smallest size, then times
// it with CUDA events over a sweep of sizes and prints a markdown table of achieved
// GB/s (memory-bound ops, counting the bytes each op must read and write at least) or
// TFLOP/s (GEMM, convolution), beside the device's measured device-to-device copy
// bandwidth and GEMM rates. Without a GPU it prints "CUDA unavailable" and exits 0.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "engine/ops/functional.h"
#include "engine/core/backend.h"
#include "engine/backends/cuda/context.h"

using namespace engine;

namespace {

struct Case {
  std::string size;     // label of the problem size
  double bytes = 0;     // minimum bytes read and written
  double flops = 0;     // floating-point operations (GEMM, convolution); 0 for memory-bound ops
  std::function<Tensor()> run;  // runs the op once, returns its main output
};
// Builds the inputs of one problem size on a device. Inputs come from the Philox
// stream, which is the same on every device, so the CPU twin sees the same numbers.
using Factory = std::function<Case(Device dev, int64_t scale)>;

struct Bench {
  std::string op;
  std::vector<int64_t> scales;  // the first one is also validated against the CPU
  Factory make;
  double tol = 1e-4;
};

int g_device = 0;

Tensor randn(const Shape& s, uint64_t seed, Device dev, DType d = DType::f32) {
  return ops::randn(s, seed, 0, d, dev);
}

Tensor rand_index(const Shape& s, int64_t n, uint64_t seed, Device dev) {
  Tensor u = ops::rand_uniform(s, seed, 0, DType::f64, dev, 0.0, double(n) - 0.5);
  return u.to(DType::i64);
}

double rel_error(const Tensor& got, const Tensor& want) {
  std::vector<double> a = got.to_vector(), b = want.to_vector();
  if (a.size() != b.size()) return INFINITY;
  double scale = 1.0, err = 0.0;
  for (double v : b) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::abs(a[i] - b[i]);
    if (std::isnan(d)) return INFINITY;
    err = std::max(err, d);
  }
  return err / scale;
}

// Milliseconds per run of c on the GPU: warm-up, then enough runs for ~50 ms.
double time_ms(const Case& c) {
  for (int i = 0; i < 2; ++i) c.run();
  runtime::cuda_synchronize(g_device);
  runtime::CudaEventTimer timer(g_device);
  timer.start();
  c.run();
  double one = std::max(double(timer.stop_ms()), 1e-3);
  int iters = int(std::clamp(50.0 / one, 3.0, 200.0));
  timer.start();
  for (int i = 0; i < iters; ++i) c.run();
  return double(timer.stop_ms()) / iters;
}

double g_copy_gbs = 0;  // the reference for memory-bound ops

void run_bench(const Bench& b, bool quick) {
  Device gpu = Device::cuda(g_device);
  std::string check;
  try {
    double e = rel_error(b.make(gpu, b.scales[0]).run(), b.make(Device::cpu(), b.scales[0]).run());
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s (%.1e)", e <= b.tol ? "ok" : "MISMATCH", e);
    check = buf;
  } catch (const Error& e) {
    check = std::string("error: ") + e.message();
  }
  size_t n = quick ? 1 : b.scales.size();
  for (size_t i = 0; i < n; ++i) {
    Case c = b.make(gpu, b.scales[i]);
    double ms = time_ms(c);
    char rate[96];
    if (c.flops > 0) {
      std::snprintf(rate, sizeof(rate), "%.2f TFLOP/s", c.flops / (ms * 1e-3) / 1e12);
    } else {
      double gbs = c.bytes / (ms * 1e-3) / 1e9;
      std::snprintf(rate, sizeof(rate), "%.1f GB/s (%.0f%% of copy)", gbs, 100.0 * gbs / g_copy_gbs);
    }
    std::printf("| %s | %s | %.3f | %s | %s |\n", b.op.c_str(), c.size.c_str(), ms * 1e3, rate,
                i == 0 ? check.c_str() : "");
    std::fflush(stdout);
  }
}

std::string dims(const Shape& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "x" : "") + std::to_string(s[i]);
  return r;
}

Case gemm_case(Device dev, int64_t n, DType d) {
  Tensor a = randn({n, n}, 1, dev, d), b = randn({n, n}, 2, dev, d);
  if (dev.is_cpu() && d != DType::f32) {  // the CPU twin of a half-precision GEMM computes in f32
    a = a.to(DType::f32);
    b = b.to(DType::f32);
  }
  return {dims({n, n, n}), 0, 2.0 * double(n) * double(n) * double(n), [=] { return ops::matmul(a, b); }};
}

Case conv_case(Device dev, int64_t scale, int which) {
  // ResNet-18 stage shapes on a CIFAR batch of 128: scale selects the stage.
  const int64_t N = 128, C = 64 << scale, HW = 32 >> scale;
  Shape xs = {N, C, HW, HW}, ws = {C, C, 3, 3};
  ops::Conv2dOptions o;
  o.pad_h = o.pad_w = 1;
  double flops = 2.0 * double(N * C * HW * HW) * double(C * 9);
  std::string size = dims(xs) + " k3";
  Tensor x = randn(xs, 3, dev), w = ops::mul(randn(ws, 4, dev), 0.05), gy = randn(xs, 5, dev);
  if (which == 0) return {size, 0, flops, [=] { return ops::conv2d(x, w, Tensor(), o); }};
  if (which == 1) return {size, 0, flops, [=] { return ops::conv2d_bwd_data(gy, w, xs, o); }};
  return {size, 0, flops, [=] { return ops::conv2d_bwd_filter(gy, x, ws, o); }};
}

std::vector<Bench> benches() {
  const std::vector<int64_t> mem = {1 << 16, 1 << 20, 1 << 24, 1 << 26};
  std::vector<Bench> v;
  v.push_back({"add (broadcast row)", mem, [](Device dev, int64_t n) {
                 Tensor a = randn({n / 256, 256}, 10, dev), b = randn({256}, 11, dev);
                 return Case{dims({n / 256, 256}), 2.0 * 4 * double(n), 0, [=] { return ops::add(a, b); }};
               }});
  v.push_back({"gelu", mem, [](Device dev, int64_t n) {
                 Tensor a = randn({n}, 12, dev);
                 return Case{dims({n}), 2.0 * 4 * double(n), 0, [=] { return ops::gelu(a); }};
               }});
  v.push_back({"cast f32->bf16", mem, [](Device dev, int64_t n) {
                 Tensor a = randn({n}, 13, dev);
                 return Case{dims({n}), 6.0 * double(n), 0, [=] { return a.to(DType::bf16).to(DType::f32); }};
               },
               1e-2});
  v.push_back({"sum rows", mem, [](Device dev, int64_t n) {
                 Tensor a = randn({n / 1024, 1024}, 14, dev);
                 return Case{dims({n / 1024, 1024}), 4.0 * double(n), 0, [=] { return ops::sum(a, {1}); }};
               }});
  v.push_back({"softmax rows", mem, [](Device dev, int64_t n) {
                 Tensor a = randn({n / 1000, 1000}, 15, dev);
                 return Case{dims({n / 1000, 1000}), 8.0 * double(n / 1000 * 1000), 0,
                             [=] { return ops::softmax(a, -1); }};
               }});
  v.push_back({"cross_entropy fwd", {1 << 16, 1 << 20, 1 << 24}, [](Device dev, int64_t n) {
                 Tensor a = randn({n / 100, 100}, 16, dev), labels = rand_index({n / 100}, 100, 17, dev);
                 return Case{dims({n / 100, 100}), 4.0 * double(n / 100 * 100), 0,
                             [=] { return ops::cross_entropy(a, labels, 0.1).loss; }};
               }});
  v.push_back({"index_select rows", mem, [](Device dev, int64_t n) {
                 Tensor a = randn({n / 512, 512}, 18, dev), idx = rand_index({n / 512}, n / 512, 19, dev);
                 return Case{dims({n / 512, 512}), 8.0 * double(n), 0, [=] { return ops::index_select(a, 0, idx); }};
               }});
  v.push_back({"dropout p=0.1", mem, [](Device dev, int64_t n) {
                 Tensor a = randn({n}, 20, dev);
                 return Case{dims({n}), 9.0 * double(n), 0, [=] { return ops::dropout(a, 0.1, 7, 0).y; }};
               }});
  v.push_back({"topk k=2 of 64", {1 << 14, 1 << 18, 1 << 22}, [](Device dev, int64_t n) {
                 Tensor a = randn({n / 64, 64}, 21, dev);
                 return Case{dims({n / 64, 64}), 4.0 * double(n), 0, [=] { return ops::topk(a, 2, -1).values; }};
               }});
  v.push_back({"batchnorm2d train fwd", {0, 1, 2, 3}, [](Device dev, int64_t s) {
                 Shape xs = {128, 64 << s, 32 >> s, 32 >> s};
                 Tensor x = randn(xs, 22, dev), g = randn({xs[1]}, 23, dev), b = randn({xs[1]}, 24, dev);
                 return Case{dims(xs), 8.0 * double(shape_numel(xs)), 0,
                             [=] { return ops::batchnorm2d(x, g, b, Tensor(), Tensor(), true, 0.1, 1e-5).y; }};
               }});
  // ResNet-18 CIFAR shapes at batch 512, channels-last, residual + relu.
  v.push_back({"batchnorm2d_act NHWC train fwd", {0, 3}, [](Device dev, int64_t s) {
                 Shape xs = {512, 64 << s, 32 >> s, 32 >> s};
                 MemoryFormat cl = MemoryFormat::ChannelsLast;
                 Tensor x = randn(xs, 22, dev).contiguous(cl), r = randn(xs, 25, dev).contiguous(cl);
                 Tensor g = randn({xs[1]}, 23, dev), b = randn({xs[1]}, 24, dev);
                 return Case{dims(xs), 12.0 * double(shape_numel(xs)), 0, [=] {
                               return ops::batchnorm2d_act(x, r, g, b, Tensor(), Tensor(), true, true, 0.1, 1e-5).y;
                             }};
               }});
  v.push_back({"batchnorm2d_act NHWC train bwd", {0, 3}, [](Device dev, int64_t s) {
                 Shape xs = {512, 64 << s, 32 >> s, 32 >> s};
                 MemoryFormat cl = MemoryFormat::ChannelsLast;
                 Tensor x = randn(xs, 22, dev).contiguous(cl), r = randn(xs, 25, dev).contiguous(cl);
                 Tensor g = randn({xs[1]}, 23, dev), b = randn({xs[1]}, 24, dev);
                 Tensor gy = randn(xs, 26, dev).contiguous(cl);
                 ops::BatchNormOutput f = ops::batchnorm2d_act(x, r, g, b, Tensor(), Tensor(), true, true, 0.1, 1e-5);
                 return Case{dims(xs), 20.0 * double(shape_numel(xs)), 0, [=] {
                               return ops::batchnorm2d_act_bwd(gy, f.y, x, g, f.save_mean, f.save_invstd, true, true,
                                                               true)
                                   .gx;
                             }};
               }});
  v.push_back({"maxpool2d 3x3 s2", {0, 1, 2}, [](Device dev, int64_t s) {
                 Shape xs = {128, 64 << s, 32 >> s, 32 >> s};
                 ops::Pool2dOptions o;
                 o.kh = o.kw = 3;
                 o.ph = o.pw = 1;
                 Tensor x = randn(xs, 25, dev);
                 return Case{dims(xs), 4.0 * 1.25 * double(shape_numel(xs)), 0, [=] { return ops::maxpool2d(x, o).y; }};
               }});
  v.push_back({"adamw_step", mem, [](Device dev, int64_t n) {
                 Tensor p = randn({n}, 26, dev), g = randn({n}, 27, dev);
                 Tensor m = Tensor::zeros({n}, DType::f32, dev), v2 = Tensor::zeros({n}, DType::f32, dev);
                 return Case{dims({n}), 7.0 * 4 * double(n), 0, [=] {
                               ops::adamw_step(p, g, m, v2, 1e-3, 0.9, 0.999, 1e-8, 0.01, 1);
                               return m;
                             }};
               }});
  for (DType d : {DType::f32, DType::bf16}) {
    std::string name = std::string("matmul ") + dtype_name(d);
    v.push_back({name, {256, 1024, 4096, 8192}, [d](Device dev, int64_t n) { return gemm_case(dev, n, d); },
                 d == DType::f32 ? 1e-4 : 2e-2});
  }
  // MoE layer pieces at the shape family: T tokens, C = 256, E = 8, H = 1024, k = 2.
  // Routing inputs are the same on both devices (Philox), so the CPU check is exact.
  auto moe_routing = [](Device dev, int64_t T) {
    Tensor logits = randn({T, 8}, 30, dev);
    ops::TopKOutput top = ops::topk(ops::softmax(logits, -1), 2, -1);
    return std::make_pair(top, logits);
  };
  // The router from tokens [T, 256] and a weight [8, 256]: the fused op (one launch)
  // against linear + softmax + top-k. Bytes: x and the weight read; logits, probs,
  // top-2 indices, probabilities and weights written.
  for (bool fused : {true, false}) {
    std::string name = fused ? "moe router fused (x W^T, softmax, top-2 of 8)" : "moe router unfused (linear, softmax, topk)";
    v.push_back({name, {1 << 13, 1 << 16, 1 << 18}, [fused](Device dev, int64_t T) {
                   const int64_t C = 256, E = 8;
                   Tensor x = randn({T, C}, 29, dev), w = ops::mul(randn({E, C}, 28, dev), 0.1);
                   double bytes = 4.0 * double(T * C + E * C + 2 * T * E) + double(T * 2) * (8 + 4 + 4);
                   if (fused) return Case{dims({T, C, E}), bytes, 0, [=] { return ops::moe_router_topk(x, w, 2, 1.0, false).weights; }};
                   return Case{dims({T, C, E}), bytes, 0,
                               [=] { return ops::topk(ops::softmax(ops::linear(x, w, Tensor()), -1), 2, -1).values; }};
                 },
                 1e-4});
  }
  // Routing by sorting (CUB radix sort + scan) against the one-block placement; the
  // environment variable picks the CUDA path, the CPU check is the same for both.
  for (const char* impl : {"sort", "place"}) {
    std::string name = std::string("moe_route dropless, ") + (impl[0] == 's' ? "CUB sort" : "one-block placement");
    v.push_back({name, {1 << 13, 1 << 16, 1 << 18}, [impl, moe_routing](Device dev, int64_t T) {
                   auto [top, logits] = moe_routing(dev, T);
                   Tensor idx = top.indices;
                   // Reads the slots' experts; writes three i64 rows per slot and the offsets.
                   return Case{dims({T, 2}), 8.0 * double(T * 2) * 4, 0, [=] {
                                 setenv("ENGINE_MOE_ROUTE", impl, 1);
                                 Tensor rows = ops::moe_route(idx, Tensor(), 8, -1).row_token;
                                 unsetenv("ENGINE_MOE_ROUTE");
                                 return rows.to(DType::f64);
                               }};
                 }});
  }
  for (int which = 0; which < 3; ++which) {
    // The grouped expert GEMM over the routed rows through cuBLAS's grouped GEMM and
    // through the tiled kernel, and beside them one dense GEMM of the same FLOPs
    // ([T*k, C] x [C, H]), the rate the grouped ones are measured against.
    const char* names[] = {"moe grouped GEMM C->H, cuBLAS grouped (8 experts)", "moe grouped GEMM C->H, tiled (8 experts)",
                           "dense GEMM, same FLOPs"};
    v.push_back({names[which], {1 << 13, 1 << 15}, [which, moe_routing](Device dev, int64_t T) {
                   const int64_t C = 256, H = 1024, R = T * 2;
                   double flops = 2.0 * double(R) * double(C) * double(H);
                   Tensor x = randn({R, C}, 31, dev);
                   if (which == 2) {
                     Tensor w = ops::mul(randn({C, H}, 32, dev), 0.05);
                     return Case{dims({R, C, H}), 0, flops, [=] { return ops::matmul(x, w); }};
                   }
                   Tensor w = ops::mul(randn({8, C, H}, 32, dev), 0.05);
                   auto [top, logits] = moe_routing(dev, T);
                   Tensor offsets = ops::moe_route(top.indices, Tensor(), 8, -1).offsets;
                   const char* impl = which == 0 ? "cublas" : "tiled";
                   return Case{dims({R, C, H}) + " E8", 0, flops, [=] {
                                 setenv("ENGINE_MOE_GEMM", impl, 1);
                                 Tensor y = ops::moe_grouped_matmul(x, w, offsets);
                                 unsetenv("ENGINE_MOE_GEMM");
                                 return y;
                               }};
                 },
                 1e-3});
  }
  v.push_back({"moe dispatch (gather token rows, C 256)", {1 << 13, 1 << 16}, [moe_routing](Device dev, int64_t T) {
                 const int64_t C = 256;
                 auto [top, logits] = moe_routing(dev, T);
                 ops::MoeRouteOutput r = ops::moe_route(top.indices, Tensor(), 8, -1);
                 Tensor x = randn({T, C}, 34, dev);
                 // Each routed row read once and written once, plus its token index.
                 return Case{dims({T, C}) + " k2", 8.0 * double(r.kept * C) + 8.0 * double(r.kept), 0,
                             [=] { return ops::index_select(x, 0, r.row_token); }};
               },
               1e-6});
  v.push_back({"moe combine (weighted index_add)", {1 << 13, 1 << 16}, [moe_routing](Device dev, int64_t T) {
                 const int64_t C = 256;
                 auto [top, logits] = moe_routing(dev, T);
                 ops::MoeRouteOutput r = ops::moe_route(top.indices, Tensor(), 8, -1);
                 Tensor ye = randn({r.kept, C}, 33, dev);
                 Tensor w = ops::index_select(top.values.reshape({T * 2}), 0, r.row_slot).reshape({r.kept, 1});
                 Tensor zeros = Tensor::zeros({T, C}, DType::f32, dev);
                 return Case{dims({T, C}), 4.0 * double(r.kept * C) * 3 + 4.0 * double(T * C), 0,
                             [=] { return ops::index_add(zeros, 0, r.row_token, ops::mul(ye, w)); }};
               },
               1e-4});
  const char* conv_names[] = {"conv2d fwd", "conv2d bwd data", "conv2d bwd filter"};
  for (int which = 0; which < 3; ++which)
    v.push_back({conv_names[which], {0, 1, 2, 3},
                 [which](Device dev, int64_t s) { return conv_case(dev, s, which); }, 1e-3});
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--device" && i + 1 < argc) {
      g_device = std::atoi(argv[++i]);
    } else {
      std::cerr << "usage: bench_kernels [--quick] [--device N]\n";
      return 2;
    }
  }
  if (!runtime::cuda_available()) {
    std::cout << "CUDA unavailable: " << runtime::cuda_unavailable_reason() << "\n";
    return 0;
  }
  try {
    Device gpu = Device::cuda(g_device);
    runtime::CudaDeviceInfo info = runtime::cuda_device_info(g_device);
    std::printf("# bench_kernels on %s (sm_%d%d, %d SMs, %.1f GiB)\n\n", info.name.c_str(), info.major, info.minor,
                info.sm_count, double(info.total_memory) / double(1 << 30));
    runtime::cuda_set_tf32(false);

    // References: device-to-device copy bandwidth (read + write) and GEMM rates.
    const int64_t copy_n = int64_t(1) << 28;  // 1 GiB of f32
    Tensor big = Tensor::zeros({copy_n}, DType::f32, gpu);
    double copy_ms = time_ms(Case{"", 0, 0, [&] { return big.clone(); }});
    g_copy_gbs = 2.0 * 4.0 * double(copy_n) / (copy_ms * 1e-3) / 1e9;
    big = Tensor();
    std::printf("Device-to-device copy: %.1f GB/s (1 GiB, read + write)\n\n", g_copy_gbs);
    for (bool tf32 : {false, true}) {
      runtime::cuda_set_tf32(tf32);
      double ms = time_ms(gemm_case(gpu, 8192, DType::f32));
      std::printf("GEMM 8192^3 f32%s: %.1f TFLOP/s\n", tf32 ? " (TF32)" : "", 2.0 * std::pow(8192.0, 3) / (ms * 1e-3) / 1e12);
    }
    runtime::cuda_set_tf32(false);
    double ms = time_ms(gemm_case(gpu, 8192, DType::bf16));
    std::printf("GEMM 8192^3 bf16: %.1f TFLOP/s\n\n", 2.0 * std::pow(8192.0, 3) / (ms * 1e-3) / 1e12);

    std::printf("| op | size | time (us) | achieved | check vs CPU |\n|---|---|---|---|---|\n");
    for (const Bench& b : benches()) run_bench(b, quick);
    runtime::CudaMemoryStats st = runtime::cuda_memory_stats(g_device);
    std::printf("\nAllocator: peak %.1f MiB allocated, %.1f MiB reserved, %llu cudaMalloc calls for %llu requests\n",
                double(st.peak_allocated) / double(1 << 20), double(st.peak_reserved) / double(1 << 20),
                static_cast<unsigned long long>(st.num_device_mallocs), static_cast<unsigned long long>(st.num_allocs));
  } catch (const Error& e) {
    std::cerr << "bench_kernels: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
