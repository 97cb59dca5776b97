// Batch norm with a fused residual-add and relu epilogue, forward (output, saved and
// running statistics) and backward (gx, ggamma, gbeta, gresidual): every variant, both
// layouts, f32/f64/bf16/f16 inputs and, beside bf16/f16, f32 parameters; sizes past one
// slice of rows per channel, where two device runs must agree bit for bit.
#include <algorithm>
#include <cmath>

#include "engine/autograd/functions.h"
#include "engine/ops/functional.h"
#include "opcases/op_cases.h"

namespace engine::opcases {
namespace {

using Ins = std::vector<Tensor>;
using Vars = std::vector<Variable>;
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
    return {rand_input(k.s, seed, d, k.mean, k.std).contiguous(k.mf),
            res,
            Tensor(),
            Tensor(),
            Tensor(),
            Tensor(),
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
    ops::BatchNormActGrads g =
        ops::batchnorm2d_act_bwd(in[6], in[7], in[0], in[2], in[8], in[9], k.relu, k.training, want_res);
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
  OpCase c = op_case(
      "norm_act", variant_name(k), ops, dts, [k, seed](DType d) { return make_inputs(k, d, seed); },
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
  return {backward ? "batchnorm2d_act NHWC train bwd" : "batchnorm2d_act NHWC train fwd",
          {0, 3},
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
            return BenchRun{
                dims(xs), 20.0 * double(shape_numel(xs)), 0, [=] {
                  return ops::batchnorm2d_act_bwd(gy, f.y, x, g, f.save_mean, f.save_invstd, true, true, true).gx;
                }};
          }};
}

// ---- gradient checks: with relu, the inputs are built so that every pre-activation is
// at least 0.05 away from the kink, which the finite-difference step cannot cross ----

// Distinct values moved at least 0.2 away from zero.
Tensor away_from_zero(const Shape& s, uint64_t seed) {
  std::vector<double> v = distinct64(s, seed).to_vector();
  for (double& e : v) e += e >= 0 ? 0.2 : -0.2;
  return Tensor::from_vector(v, s, DType::f64);
}

// The residual r with BN(x) + r = t: the fused op's pre-activation is then t.
Tensor residual_for(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& rm, const Tensor& rv,
                    bool training, const Tensor& t) {
  Tensor y = ops::batchnorm2d(x, gamma, beta, rm.clone(), rv.clone(), training, 0.1, 1e-5).y;
  return ops::sub(t, y);
}

// beta per channel so that gamma * xhat + beta changes sign halfway between the two
// middle values of the channel (xhat from the batch statistics, or from rm / rv in eval).
Tensor beta_between(const Tensor& x, const Tensor& gamma, const Tensor& rm, const Tensor& rv, bool training) {
  Tensor xc = x.contiguous();
  int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  std::vector<double> xv = xc.to_vector(), g = gamma.to_vector(), b(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    std::vector<double> ch;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) ch.push_back(xv[static_cast<size_t>((n * C + c) * HW + i)]);
    double mean = 0, var = 0;
    if (training) {
      for (double e : ch) mean += e;
      mean /= double(ch.size());
      for (double e : ch) var += (e - mean) * (e - mean);
      var /= double(ch.size());
    } else {
      mean = rm.to_vector()[static_cast<size_t>(c)];
      var = rv.to_vector()[static_cast<size_t>(c)];
    }
    std::sort(ch.begin(), ch.end());
    size_t k = ch.size() / 2;
    double mid = 0.5 * (ch[k - 1] + ch[k]);
    b[static_cast<size_t>(c)] = -g[static_cast<size_t>(c)] * (mid - mean) / std::sqrt(var + 1e-5);
  }
  return Tensor::from_vector(b, {C}, DType::f64);
}

// Fresh running statistics per call, so that every finite-difference evaluation sees the same call.
GradCheckFn bn_act_train(bool relu, bool with_residual) {
  return [relu, with_residual](const Vars& v) {
    int64_t C = v[0].size(1);
    Tensor rm = Tensor::zeros({C}, DType::f64), rv = Tensor::ones({C}, DType::f64);
    return ag::batchnorm2d_act(v[0], with_residual ? v[3] : Variable(), v[1], v[2], rm, rv, relu, true, 0.1, 1e-5);
  };
}

Tensor zeros64(int64_t C) { return Tensor::zeros({C}, DType::f64); }
Tensor ones64(int64_t C) { return Tensor::ones({C}, DType::f64); }

// Training without relu: odd sizes, batch 1, a permuted x, a non-contiguous residual.
void add_training_grads(std::vector<GradSpec>& g) {
  g.push_back({[] {
                 return Ins{randn64({3, 5, 3, 2}, 200, 0.5, 1.5), randn64({5}, 201), randn64({5}, 202)};
               },
               bn_act_train(false, false),
               {}});
  g.push_back({[] {
                 return Ins{randn64({1, 3, 3, 5}, 203), randn64({3}, 204), randn64({3}, 205)};
               },
               bn_act_train(false, false),
               {}});
  g.push_back({[] {
                 return Ins{randn64({2, 7, 1, 4}, 206).permute({3, 1, 2, 0}), randn64({7}, 207), randn64({7}, 208)};
               },
               bn_act_train(false, false),
               {}});
  g.push_back(
      {[] {
         return Ins{randn64({3, 4, 3, 3}, 210), randn64({4}, 211), randn64({4}, 212), randn64({3, 4, 3, 3}, 213)};
       },
       bn_act_train(false, true),
       {}});
  g.push_back({[] {
                 return Ins{randn64({2, 3, 5, 1}, 214), randn64({3}, 215), randn64({3}, 216),
                            randn64({5, 3, 2, 1}, 217).permute({2, 1, 0, 3})};
               },
               bn_act_train(false, true),
               {}});
  // With relu: pre-activations off the kink, odd sizes, batch 1.
  for (Shape s : {Shape{3, 4, 3, 2}, Shape{1, 3, 5, 3}, Shape{2, 5, 1, 3}})
    g.push_back({[s] {
                   int64_t C = s[1];
                   Tensor x = distinct64(s, 220 + uint64_t(C)), gamma = away_from_zero({C}, 221);
                   return Ins{x, gamma, beta_between(x, gamma, Tensor(), Tensor(), true)};
                 },
                 bn_act_train(true, false),
                 {}});
  for (Shape s : {Shape{3, 4, 3, 3}, Shape{1, 2, 3, 5}, Shape{5, 3, 1, 1}})
    g.push_back({[s] {
                   int64_t C = s[1];
                   Tensor x = randn64(s, 230 + uint64_t(C), 0.3, 1.2), gamma = randn64({C}, 231),
                          beta = randn64({C}, 232);
                   return Ins{x, gamma, beta,
                              residual_for(x, gamma, beta, zeros64(C), ones64(C), true, away_from_zero(s, 233))};
                 },
                 bn_act_train(true, true),
                 {}});
}

// Eval (running statistics constant), every variant; without affine parameters; channels-last.
void add_other_grads(std::vector<GradSpec>& g) {
  const Shape s = {2, 3, 3, 3};
  for (bool relu : {false, true})
    for (bool with_res : {false, true})
      g.push_back({[s, relu, with_res] {
                     Tensor rm = randn64({3}, 240), rv = uniform64({3}, 241, 0.5, 2.0);
                     Tensor x = distinct64(s, 242), gamma = away_from_zero({3}, 243);
                     Tensor beta = relu && !with_res ? beta_between(x, gamma, rm, rv, false) : randn64({3}, 244);
                     Ins in = {x, gamma, beta};
                     if (with_res)
                       in.push_back(relu ? residual_for(x, gamma, beta, rm, rv, false, away_from_zero(s, 245))
                                         : randn64(s, 246));
                     return in;
                   },
                   [relu, with_res](const Vars& v) {
                     Tensor rm = randn64({3}, 240), rv = uniform64({3}, 241, 0.5, 2.0);
                     return ag::batchnorm2d_act(v[0], with_res ? v[3] : Variable(), v[1], v[2], rm, rv, relu, false,
                                                0.1, 1e-5);
                   },
                   {}});
  g.push_back(
      {[] {
         Shape s2 = {3, 2, 2, 3};
         Tensor x = randn64(s2, 250);
         return Ins{x, residual_for(x, Tensor(), Tensor(), zeros64(2), ones64(2), true, away_from_zero(s2, 251))};
       },
       [](const Vars& v) {
         return ag::batchnorm2d_act(v[0], v[1], Variable(), Variable(), zeros64(2), ones64(2), true, true, 0.1, 1e-5);
       },
       {}});
  g.push_back({[] {
                 Shape s2 = {2, 3, 3, 2};
                 Tensor x = randn64(s2, 280, 0.1, 1.1), gamma = randn64({3}, 281), beta = randn64({3}, 282);
                 Tensor r = residual_for(x, gamma, beta, zeros64(3), ones64(3), true, away_from_zero(s2, 283));
                 return Ins{x.contiguous(kCL), gamma, beta, r.contiguous(kCL)};
               },
               bn_act_train(true, true),
               {}});
}

}  // namespace

void add_norm_act_cases(std::vector<OpCase>& v) {
  size_t first = v.size();
  add_variants(v);
  add_split(v);
  v[first].benches = {nhwc_bench(false), nhwc_bench(true)};
  add_training_grads(v[first].grads);
  add_other_grads(v[first].grads);
}

}  // namespace engine::opcases
