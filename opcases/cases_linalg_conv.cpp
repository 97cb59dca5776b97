// matmul and linear (cuBLAS on CUDA), conv2d forward and backward (cuDNN), NCHW and channels-last.
#include "engine/autograd/functions.h"
#include "engine/ops/functional.h"
#include "opcases/op_cases.h"

namespace engine::opcases {
namespace {

using Vars = std::vector<Variable>;
using Ins = std::vector<Tensor>;
constexpr MemoryFormat kCL = MemoryFormat::ChannelsLast;

Variable mm(const Vars& v) { return ag::matmul(v[0], v[1]); }

GradSpec mm_grad(std::function<Ins()> in) { return {std::move(in), mm, {}}; }

BenchSpec gemm_bench(DType d) {
  return {
      std::string("matmul ") + dtype_name(d),
      {256, 1024, 4096, 8192},
      [d](Device dev, int64_t n) {
        Tensor a = bench_randn({n, n}, 1, dev, d), b = bench_randn({n, n}, 2, dev, d);
        if (dev.is_cpu() && d != DType::f32) {  // the CPU twin of a half-precision GEMM computes in f32
          a = a.to(DType::f32);
          b = b.to(DType::f32);
        }
        return BenchRun{dims({n, n, n}), 0, 2.0 * double(n) * double(n) * double(n), [=] { return ops::matmul(a, b); }};
      },
      d == DType::f32 ? 1e-4 : 2e-2};
}

void add_matmul(std::vector<OpCase>& v) {
  struct Case {
    Shape a, b;
    bool ta, tb;  // operand given as a transposed view
  };
  const std::vector<Case> cases = {
      {{7, 5}, {5, 9}, false, false},   {{3, 7, 5}, {3, 5, 9}, false, false}, {{2, 1, 4, 6}, {3, 6, 5}, false, false},
      {{4, 6, 3}, {6, 5}, true, false}, {{4, 7, 5}, {4, 9, 5}, false, true},  {{6}, {2, 6, 3}, false, false},
      {{3, 8}, {8}, false, false},      {{1, 33}, {33, 1}, false, false}};
  for (const Case& k : cases) {
    auto make = [k](DType d) { return Ins{rand_input(k.a, 20, d), rand_input(k.b, 21, d)}; };
    auto run = [k](const Ins& in, DType, Device) -> Outs {
      Tensor a = k.ta ? in[0].transpose(-1, -2) : in[0], b = k.tb ? in[1].transpose(-1, -2) : in[1];
      // An empty batch of rows beside each case: [0, K] x b.
      Tensor empty = Tensor::zeros({0, b.size(b.dim() >= 2 ? -2 : 0)}, a.dtype(), a.device());
      return {{"matmul", ops::matmul(a, b)}, {"matmul of [0, K] rows", ops::matmul(empty, b)}};
    };
    std::string name = "matmul " + shape_str(k.a) + (k.ta ? "^T" : "") + " x " + shape_str(k.b) + (k.tb ? "^T" : "");
    v.push_back(op_case("linalg", name, {OpKind::MATMUL}, float_dtypes(), make, run));
  }
  OpCase& c = v[v.size() - cases.size()];
  c.grads = {mm_grad([] {
               return Ins{randn64({3, 5}, 1), randn64({5, 2}, 2)};
             }),
             mm_grad([] {
               return Ins{randn64({2, 3, 4}, 3), randn64({2, 4, 2}, 4)};
             }),
             mm_grad([] {
               return Ins{randn64({2, 1, 3, 2}, 5), randn64({3, 2, 4}, 6)};
             }),
             mm_grad([] {
               return Ins{randn64({3, 2, 4}, 7), randn64({4, 3}, 8)};
             }),
             mm_grad([] {
               return Ins{randn64({2, 3}, 9), randn64({2, 3, 4}, 10)};
             }),
             mm_grad([] {
               return Ins{randn64({4}, 11), randn64({4, 3}, 12)};
             }),
             mm_grad([] {
               return Ins{randn64({2, 3, 4}, 13), randn64({4}, 14)};
             }),
             mm_grad([] {
               return Ins{randn64({5}, 15), randn64({5}, 16)};
             }),
             mm_grad([] {
               return Ins{randn64({4, 3}, 17).transpose(0, 1), randn64({4, 7}, 18).slice(1, 1, 7, 2)};
             }),
             mm_grad([] {
               return Ins{randn64({2, 4, 3}, 19).permute({1, 0, 2}), randn64({3, 2}, 20)};
             })};
  c.benches = {gemm_bench(DType::f32), gemm_bench(DType::bf16)};
}

void add_linear(std::vector<OpCase>& v) {
  auto make = [](DType d) {
    return Ins{rand_input({13, 17}, 24, d), rand_input({11, 17}, 25, d), rand_input({11}, 26, d)};
  };
  auto run = [](const Ins& in, DType, Device) -> Outs {
    return {{"with bias", ops::linear(in[0], in[1], in[2])}, {"without bias", ops::linear(in[0], in[1], Tensor())}};
  };
  OpCase c = op_case("linalg", "linear with and without bias", {OpKind::LINEAR}, float_dtypes(), make, run);
  auto lin3 = [](const Vars& x) { return ag::linear(x[0], x[1], x[2]); };
  c.grads = {{[] {
                return Ins{randn64({3, 5}, 21), randn64({4, 5}, 22), randn64({4}, 23)};
              },
              lin3,
              {}},
             {[] {
                return Ins{randn64({1, 5}, 24), randn64({3, 5}, 25)};
              },
              [](const Vars& x) { return ag::linear(x[0], x[1], Variable()); },
              {}},
             {[] {
                return Ins{randn64({1, 2}, 26), randn64({3, 2}, 27), randn64({3}, 28)};
              },
              lin3,
              {}}};
  v.push_back(c);
}

ops::Conv2dOptions opts(int64_t stride, int64_t pad, int64_t dil, int64_t groups) {
  ops::Conv2dOptions o;
  o.stride_h = o.stride_w = stride;
  o.pad_h = o.pad_w = pad;
  o.dil_h = o.dil_w = dil;
  o.groups = groups;
  return o;
}

struct ConvCase {
  Shape x, w;
  ops::Conv2dOptions o;
  const char* what;
  bool channels_last;
};

std::vector<ConvCase> conv_cases() {
  ops::Conv2dOptions dilated = opts(1, 0, 2, 1), depthwise = opts(1, 1, 1, 4), grouped2 = opts(1, 0, 1, 2);
  dilated.pad_h = 2;
  dilated.pad_w = 1;
  depthwise.stride_w = 2;
  grouped2.pad_h = 1;
  grouped2.dil_w = 2;
  return {{{2, 3, 9, 7}, {5, 3, 3, 3}, opts(1, 0, 1, 1), "3x3", false},
          {{3, 4, 11, 10}, {6, 4, 3, 3}, opts(2, 1, 1, 1), "3x3 stride 2 pad 1", false},
          {{2, 3, 12, 9}, {4, 3, 3, 2}, dilated, "dilation 2", false},
          {{2, 6, 7, 8}, {9, 2, 3, 3}, opts(1, 1, 1, 3), "groups 3", false},
          {{1, 4, 9, 9}, {4, 1, 3, 3}, depthwise, "depthwise", false},
          {{4, 8, 5, 5}, {16, 8, 1, 1}, opts(1, 0, 1, 1), "1x1", false},
          {{2, 3, 9, 7}, {8, 3, 3, 3}, opts(2, 1, 1, 1), "3x3 stride 2 pad 1", true},
          {{3, 6, 5, 6}, {4, 3, 3, 2}, grouped2, "groups 2, dilation", true},
          {{2, 5, 4, 4}, {7, 5, 1, 1}, opts(1, 0, 1, 1), "1x1", true},
          {{2, 1, 8, 8}, {4, 1, 3, 3}, opts(2, 1, 1, 1), "one input channel", true}};
}

void add_conv_case(std::vector<OpCase>& v, const ConvCase& k) {
  kernels::Conv2dParams p = ops::conv2d_params(k.x, k.w, k.o);
  Shape ys = {p.N, p.K, p.P, p.Q};
  MemoryFormat mf = k.channels_last ? kCL : MemoryFormat::Contiguous;
  auto make = [k, ys, mf](DType d) {
    return Ins{rand_input(k.x, 30, d).contiguous(mf), rand_input(k.w, 31, d), rand_input({k.w[0]}, 32, d),
               rand_input(ys, 33, d).contiguous(mf)};
  };
  auto run = [k](const Ins& in, DType, Device) -> Outs {
    bool cl = k.channels_last;
    Outs o = {{"forward", ops::conv2d(in[0], in[1], in[2], k.o), Cmp::Tol, {}, -1, cl},
              {"forward without bias", ops::conv2d(in[0], in[1], Tensor(), k.o), Cmp::Tol, {}, -1, cl},
              {"backward data", ops::conv2d_bwd_data(in[3], in[1], k.x, k.o), Cmp::Tol, {}, -1, cl},
              {"backward filter", ops::conv2d_bwd_filter(in[3], in[0], k.w, k.o)}};
    return o;
  };
  std::string name =
      std::string("conv2d ") + k.what + " x " + shape_str(k.x) + (k.channels_last ? " channels-last" : "");
  v.push_back(op_case("conv", name, {OpKind::CONV2D, OpKind::CONV2D_BWD_DATA, OpKind::CONV2D_BWD_FILTER},
                      float_dtypes(), make, run));
}

GradSpec conv_grad(std::function<Ins()> in, ops::Conv2dOptions o) {
  return {
      std::move(in), [o](const Vars& x) { return ag::conv2d(x[0], x[1], x.size() > 2 ? x[2] : Variable(), o); }, {}};
}

BenchSpec conv_bench(int which) {
  const char* names[] = {"conv2d fwd", "conv2d bwd data", "conv2d bwd filter"};
  return {names[which],
          {0, 1, 2, 3},
          [which](Device dev, int64_t scale) {
            // ResNet-18 stage shapes on a CIFAR batch of 128: scale selects the stage.
            const int64_t N = 128, C = 64 << scale, HW = 32 >> scale;
            Shape xs = {N, C, HW, HW}, ws = {C, C, 3, 3};
            ops::Conv2dOptions o = opts(1, 1, 1, 1);
            double flops = 2.0 * double(N * C * HW * HW) * double(C * 9);
            std::string size = dims(xs) + " k3";
            Tensor x = bench_randn(xs, 3, dev), w = ops::mul(bench_randn(ws, 4, dev), 0.05),
                   gy = bench_randn(xs, 5, dev);
            if (which == 0) return BenchRun{size, 0, flops, [=] { return ops::conv2d(x, w, Tensor(), o); }};
            if (which == 1) return BenchRun{size, 0, flops, [=] { return ops::conv2d_bwd_data(gy, w, xs, o); }};
            return BenchRun{size, 0, flops, [=] { return ops::conv2d_bwd_filter(gy, x, ws, o); }};
          },
          1e-3};
}

void add_conv(std::vector<OpCase>& v) {
  size_t first = v.size();
  for (const ConvCase& k : conv_cases()) add_conv_case(v, k);
  OpCase& c = v[first];
  ops::Conv2dOptions asym;
  asym.stride_h = 2;
  asym.stride_w = 3;
  asym.pad_w = 2;
  c.grads = {
      conv_grad(
          [] {
            return Ins{randn64({2, 3, 5, 7}, 1), randn64({4, 3, 3, 3}, 2), randn64({4}, 3)};
          },
          opts(2, 1, 1, 1)),
      conv_grad(
          [] {
            return Ins{randn64({2, 2, 5, 4}, 4), randn64({3, 2, 3, 2}, 5)};
          },
          opts(1, 2, 2, 1)),
      conv_grad(
          [] {
            return Ins{randn64({1, 4, 5, 5}, 6), randn64({6, 2, 3, 3}, 7), randn64({6}, 8)};
          },
          opts(1, 1, 1, 2)),
      conv_grad(
          [] {
            return Ins{randn64({2, 3, 7, 6}, 9), randn64({3, 1, 3, 3}, 10), randn64({3}, 11)};
          },
          opts(2, 2, 2, 3)),
      conv_grad(
          [] {
            return Ins{randn64({2, 2, 6, 5}, 12), randn64({2, 2, 2, 3}, 13)};
          },
          asym),
      conv_grad(
          [] {
            return Ins{randn64({2, 3, 4, 5}, 14).permute({0, 1, 3, 2}), randn64({2, 3, 1, 1}, 15), randn64({2}, 16)};
          },
          opts(1, 0, 1, 1))};
  c.benches = {conv_bench(0), conv_bench(1), conv_bench(2)};
  // Channels-last inputs: the NHWC paths forward and (the rule hands gy over in x's format) backward.
  OpCase& cl = v[first + 6];
  ops::Conv2dOptions s2 = opts(1, 1, 1, 1), g = opts(1, 0, 1, 2);
  s2.stride_h = 2;
  g.dil_w = 2;
  cl.grads = {conv_grad(
                  [] {
                    return Ins{randn64({2, 3, 5, 4}, 1).contiguous(kCL), randn64({4, 3, 3, 3}, 2), randn64({4}, 3)};
                  },
                  s2),
              conv_grad(
                  [] {
                    return Ins{randn64({1, 4, 4, 5}, 4).contiguous(kCL), randn64({6, 2, 2, 2}, 5)};
                  },
                  g),
              // One input channel: the layout is ambiguous by strides, made channels-last explicitly.
              conv_grad(
                  [] {
                    return Ins{randn64({2, 1, 4, 4}, 6).contiguous(kCL), randn64({3, 1, 3, 3}, 7)};
                  },
                  s2)};
}

}  // namespace

void add_linalg_conv_cases(std::vector<OpCase>& v) {
  add_matmul(v);
  add_linear(v);
  add_conv(v);
}

}  // namespace engine::opcases
