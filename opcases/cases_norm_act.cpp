// Batch norm with a fused residual-add and relu epilogue, forward (output, saved and
// running statistics) and backward (gx, ggamma, gbeta, gresidual): every variant, both
// layouts, f32/f64/bf16/f16 inputs and, beside bf16/f16, f32 parameters; sizes past one
// slice of rows per channel, where two device runs must agree bit for bit.
#include "engine/ops/functional.h"
#include "opcases/op_cases.h"

namespace engine::opcases {
namespace {

using Ins = std::vector<Tensor>;
constexpr MemoryFormat kCL = MemoryFormat::ChannelsLast;

struct Variant {
  Shape s;
  MemoryFormat mf = MemoryFormat::Contiguous;
  bool relu = true, residual = true, training = true, f32_params = false;
  bool affine = true;            // gamma, beta and running statistics given
  double mean = 0.7, std = 2.0;  // of x
};

std::string variant_name(const Variant& k) {
  std::string n = "batchnorm2d_act " + shape_str(k.s) + (k.mf == kCL ? " channels-last" : "") +
                  (k.relu ? " relu" : "") + (k.residual ? " residual" : "") + (k.training ? " train" : " eval");
  if (!k.affine) n += " without parameters or running statistics";
  if (k.f32_params) n += ", f32 parameters";
  return n;
}

Ins make_forward_inputs(const Variant& k, DType d, uint64_t seed);

// x, residual, gamma, beta, running mean, running var, gy, y (for the backward's relu
// mask: about half of it zero, the same on both devices), and the statistics the
// backward reads (random: with N*H*W = 2 the batch's own would make every gx 0 in
// exact arithmetic and the comparison one of amplified rounding noise).
Ins make_inputs(const Variant& k, DType d, uint64_t seed) {
  Ins in = make_forward_inputs(k, d, seed);
  DType pd = k.f32_params ? DType::f32 : d;
  int64_t C = k.s[1];
  in.push_back(ops::relu(randn64(k.s, seed + 7)).to(d).contiguous(k.mf));
  in.push_back(rand_input({C}, seed + 8, pd, 0.0, 0.3));
  in.push_back(rand_uniform_input({C}, seed + 9, pd, 0.5, 2.0));
  return in;
}

Ins make_forward_inputs(const Variant& k, DType d, uint64_t seed) {
  int64_t C = k.s[1];
  DType pd = k.f32_params ? DType::f32 : d;
  Tensor res = k.residual ? rand_input(k.s, seed + 1, d).contiguous(k.mf) : Tensor();
  if (!k.affine)
    return {rand_input(k.s, seed, d, k.mean, k.std).contiguous(k.mf), res, Tensor(), Tensor(), Tensor(), Tensor(),
            rand_input(k.s, seed + 6, d).contiguous(k.mf)};
  return {rand_input(k.s, seed, d, k.mean, k.std).contiguous(k.mf),
          res,
          rand_input({C}, seed + 2, pd),
          rand_input({C}, seed + 3, pd),
          rand_input({C}, seed + 4, pd, k.mean, 0.1),
          rand_uniform_input({C}, seed + 5, pd, 0.2, 1.5),
          rand_input(k.s, seed + 6, d).contiguous(k.mf)};
}

Outs run_variant(const Variant& k, const Ins& in) {
  ops::BatchNormOutput f =
      ops::batchnorm2d_act(in[0], in[1], in[2], in[3], in[4], in[5], k.relu, k.training, 0.1, 1e-5);
  Outs o = {{"y", f.y, Cmp::Tol, {}, -1, k.mf == kCL}};
  if (!k.affine) return o;
  o.push_back({"save_mean", f.save_mean});
  o.push_back({"save_invstd", f.save_invstd});
  o.push_back({"running_mean", in[4]});
  o.push_back({"running_var", in[5]});
  for (bool want_res : {true, false}) {
    ops::BatchNormActGrads g = ops::batchnorm2d_act_bwd(in[6], in[7], in[0], in[2], in[8], in[9], k.relu,
                                                        k.training, want_res);
    std::string w = want_res ? "" : " (no gresidual asked)";
    o.push_back({"gx" + w, g.gx, Cmp::Tol, {}, -1, k.mf == kCL});
    o.push_back({"ggamma" + w, g.ggamma});
    o.push_back({"gbeta" + w, g.gbeta});
    o.push_back({"gresidual" + w, g.gresidual});
  }
  return o;
}

void push(std::vector<OpCase>& v, const Variant& k, uint64_t seed, bool deterministic) {
  std::vector<DType> dts = k.f32_params ? std::vector<DType>{DType::bf16, DType::f16} : float_dtypes();
  std::vector<OpKind> ops = {OpKind::BATCHNORM2D_ACT};
  if (k.affine) ops.push_back(OpKind::BATCHNORM2D_ACT_BWD);
  OpCase c = op_case("norm_act", variant_name(k), ops, dts,
                     [k, seed](DType d) { return make_inputs(k, d, seed); },
                     [k](const Ins& in, DType, Device) { return run_variant(k, in); });
  c.deterministic = deterministic;
  v.push_back(c);
}

void add_variants(std::vector<OpCase>& v) {
  uint64_t seed = 300;
  for (Shape s : {Shape{4, 3, 5, 7}, Shape{2, 5, 1, 1}, Shape{3, 2, 33, 31}})
    for (bool relu : {false, true})
      for (bool residual : {false, true})
        for (bool training : {true, false})
          for (bool f32_params : {false, true}) {
            Variant k;
            k.s = s;
            k.relu = relu;
            k.residual = residual;
            k.training = training;
            k.f32_params = f32_params;
            push(v, k, seed += 10, false);
          }
  for (Shape s : {Shape{4, 6, 5, 7}, Shape{3, 3, 1, 1}, Shape{2, 5, 17, 9}}) {
    Variant k;
    k.s = s;
    k.mf = kCL;
    k.mean = 0.3;
    k.std = 1.5;
    push(v, k, 700, false);
  }
  Variant bare;
  bare.s = {3, 4, 9, 7};
  bare.affine = false;
  push(v, bare, 400, false);
}

// Rows not a multiple of the slice, the slice cap reached (C=1, 270,900 rows), C not a
// multiple of the 32-channel groups, batch 1, planes smaller and larger than a block; x
// off-centre (mean 3, stddev 0.5) for the one-pass variance.
void add_split(std::vector<OpCase>& v) {
  uint64_t seed = 900;
  int variant = 0;
  for (Shape s : {Shape{3, 5, 19, 23}, Shape{1, 33, 40, 41}, Shape{3, 1, 300, 301}, Shape{2, 70, 30, 31},
                  Shape{37, 4, 5, 7}, Shape{5, 2, 17, 19}})
    for (MemoryFormat mf : {MemoryFormat::Contiguous, kCL})
      for (bool f32_params : {false, true}) {
        ++variant;
        Variant k;
        k.s = s;
        k.mf = mf;
        k.relu = variant % 2 == 0;
        k.residual = variant % 3 != 0;
        k.training = variant % 4 != 1;
        k.f32_params = f32_params;
        k.mean = 3.0;
        k.std = 0.5;
        push(v, k, seed += 10, true);
      }
}

BenchSpec nhwc_bench(bool backward) {
  return {backward ? "batchnorm2d_act NHWC train bwd" : "batchnorm2d_act NHWC train fwd", {0, 3},
          [backward](Device dev, int64_t s) {
            // ResNet-18 CIFAR shapes at batch 512, channels-last, residual + relu.
            Shape xs = {512, 64 << s, 32 >> s, 32 >> s};
            Tensor x = bench_randn(xs, 22, dev).contiguous(kCL), r = bench_randn(xs, 25, dev).contiguous(kCL);
            Tensor g = bench_randn({xs[1]}, 23, dev), b = bench_randn({xs[1]}, 24, dev);
            if (!backward)
              return BenchRun{dims(xs), 12.0 * double(shape_numel(xs)), 0, [=] {
                                return ops::batchnorm2d_act(x, r, g, b, Tensor(), Tensor(), true, true, 0.1, 1e-5).y;
                              }};
            Tensor gy = bench_randn(xs, 26, dev).contiguous(kCL);
            ops::BatchNormOutput f = ops::batchnorm2d_act(x, r, g, b, Tensor(), Tensor(), true, true, 0.1, 1e-5);
            return BenchRun{dims(xs), 20.0 * double(shape_numel(xs)), 0, [=] {
                              return ops::batchnorm2d_act_bwd(gy, f.y, x, g, f.save_mean, f.save_invstd, true, true, true).gx;
                            }};
          }};
}

}  // namespace

void add_norm_act_cases(std::vector<OpCase>& v) {
  size_t first = v.size();
  add_variants(v);
  add_split(v);
  v[first].benches = {nhwc_bench(false), nhwc_bench(true)};
}

}  // namespace engine::opcases
