// Batch norm (training and eval, running statistics, backward) and pooling (max,
// average, global), NCHW and channels-last, forward and backward.
#include "engine/autograd/functions.h"
#include "engine/ops/functional.h"
#include "opcases/op_cases.h"

namespace engine::opcases {

Tensor reduce_nan_inf_input(DType d);  // cases_reduce.cpp

namespace {

using Vars = std::vector<Variable>;
using Ins = std::vector<Tensor>;
constexpr MemoryFormat kCL = MemoryFormat::ChannelsLast;

const char* layout_name(MemoryFormat mf) { return mf == kCL ? " channels-last" : ""; }

// x, gamma, beta, running mean, running var, gy, and the statistics the backward reads
// (random: with N*H*W = 2 the batch's own would make every gx 0 in exact arithmetic and
// the comparison one of amplified rounding noise).
Ins bn_inputs(const Shape& s, DType d, MemoryFormat mf) {
  int64_t C = s[1];
  return {rand_input(s, 40, d, 0.7, 2.0).contiguous(mf),
          rand_input({C}, 41, d),
          rand_input({C}, 42, d),
          rand_input({C}, 43, d),
          rand_uniform_input({C}, 44, d, 0.5, 1.5),
          rand_input(s, 45, d).contiguous(mf),
          rand_input({C}, 46, d, 0.0, 0.3),
          rand_uniform_input({C}, 47, d, 0.5, 2.0)};
}

Outs bn_run(const Ins& in, bool training) {
  bool cl = in[0].suggest_memory_format() == kCL && in[0].dim() == 4;
  ops::BatchNormOutput f = ops::batchnorm2d(in[0], in[1], in[2], in[3], in[4], training, 0.1, 1e-5);
  ops::BatchNormGrads g = ops::batchnorm2d_bwd(in[5], in[0], in[1], in[6], in[7], training);
  ops::BatchNormOutput bare = ops::batchnorm2d(in[0], Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5);
  return {{"y", f.y, Cmp::Tol, {}, -1, cl},
          {"save_mean", f.save_mean},
          {"save_invstd", f.save_invstd},
          {"running_mean", in[3]},
          {"running_var", in[4]},
          {"gx", g.gx, Cmp::Tol, {}, -1, cl},
          {"ggamma", g.ggamma},
          {"gbeta", g.gbeta},
          {"y without gamma, beta, running statistics", bare.y}};
}

GradCheckFn bn_train(double momentum, double eps) {
  return [momentum, eps](const Vars& v) {
    int64_t C = v[0].size(1);
    Tensor rm = Tensor::zeros({C}, DType::f64), rv = Tensor::ones({C}, DType::f64);
    return ag::batchnorm2d(v[0], v[1], v[2], rm, rv, true, momentum, eps);
  };
}

void add_batchnorm_grads(OpCase& c) {
  c.grads.push_back({[] {
                       return Ins{randn64({3, 5, 3, 2}, 60, 0.5, 1.5), randn64({5}, 61), randn64({5}, 62)};
                     },
                     bn_train(0.1, 1e-5),
                     {}});
  c.grads.push_back({[] {
                       return Ins{randn64({1, 3, 3, 5}, 63), randn64({3}, 64), randn64({3}, 65)};
                     },
                     bn_train(0.1, 1e-5),
                     {}});
  c.grads.push_back({[] {
                       return Ins{randn64({2, 7, 1, 4}, 66).permute({3, 1, 2, 0}), randn64({7}, 67), randn64({7}, 68)};
                     },
                     bn_train(0.5, 0.1),
                     {}});
  c.grads.push_back({[] {
                       return Ins{randn64({2, 4, 3, 3}, 72), randn64({4}, 73), randn64({4}, 74)};
                     },
                     [](const Vars& v) {
                       Tensor rm = randn64({4}, 70), rv = uniform64({4}, 71, 0.5, 2.0);
                       return ag::batchnorm2d(v[0], v[1], v[2], rm, rv, false, 0.1, 1e-5);
                     },
                     {}});
  c.grads.push_back({[] {
                       return Ins{randn64({3, 2, 2, 3}, 75)};
                     },
                     [](const Vars& v) {
                       Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
                       return ag::batchnorm2d(v[0], Variable(), Variable(), rm, rv, true, 0.1, 1e-5);
                     },
                     {}});
  c.grads.push_back({[] {
                       return Ins{randn64({1, 2, 1, 1}, 78)};
                     },
                     [](const Vars& v) {
                       Tensor rm = randn64({2}, 76), rv = uniform64({2}, 77, 0.5, 2.0);
                       return ag::batchnorm2d(v[0], Variable(), Variable(), rm, rv, false, 0.1, 1e-5);
                     },
                     {}});
}

BenchSpec bn_bench() {
  return {"batchnorm2d train fwd", {0, 1, 2, 3}, [](Device dev, int64_t s) {
            Shape xs = {128, 64 << s, 32 >> s, 32 >> s};
            Tensor x = bench_randn(xs, 22, dev), g = bench_randn({xs[1]}, 23, dev), b = bench_randn({xs[1]}, 24, dev);
            return BenchRun{dims(xs), 8.0 * double(shape_numel(xs)), 0,
                            [=] { return ops::batchnorm2d(x, g, b, Tensor(), Tensor(), true, 0.1, 1e-5).y; }};
          }};
}

// C = 37 and 70 span partial 32-channel blocks; 1x1 planes; a large N*H*W.
void add_batchnorm(std::vector<OpCase>& v) {
  size_t first = v.size();
  struct Case {
    Shape s;
    MemoryFormat mf;
  };
  for (const Case& k : {Case{{4, 3, 5, 7}, MemoryFormat::Contiguous}, Case{{2, 5, 1, 1}, MemoryFormat::Contiguous},
                        Case{{3, 2, 33, 31}, MemoryFormat::Contiguous}, Case{{4, 37, 5, 7}, kCL},
                        Case{{9, 70, 1, 1}, kCL}, Case{{3, 5, 33, 31}, kCL}})
    for (bool training : {true, false}) {
      auto make = [k](DType d) { return bn_inputs(k.s, d, k.mf); };
      auto run = [training](const Ins& in, DType, Device) { return bn_run(in, training); };
      v.push_back(
          op_case("norm_pool",
                  std::string("batchnorm2d ") + (training ? "train " : "eval ") + shape_str(k.s) + layout_name(k.mf),
                  {OpKind::BATCHNORM2D, OpKind::BATCHNORM2D_BWD}, float_dtypes(), make, run));
    }
  add_batchnorm_grads(v[first]);
  v[first].benches.push_back(bn_bench());
  OpCase& cl = v[first + 6];  // the first channels-last case
  cl.grads = {{[] {
                 return Ins{randn64({3, 5, 3, 2}, 10, 0.5, 1.5).contiguous(kCL), randn64({5}, 11), randn64({5}, 12)};
               },
               bn_train(0.1, 1e-5),
               {}},
              {[] {
                 return Ins{randn64({1, 3, 3, 5}, 13).contiguous(kCL), randn64({3}, 14), randn64({3}, 15)};
               },
               bn_train(0.1, 1e-5),
               {}},
              {[] {
                 return Ins{randn64({2, 4, 3, 3}, 18).contiguous(kCL), randn64({4}, 19), randn64({4}, 20)};
               },
               [](const Vars& x) {
                 Tensor rm = randn64({4}, 16), rv = uniform64({4}, 17, 0.5, 2.0);
                 return ag::batchnorm2d(x[0], x[1], x[2], rm, rv, false, 0.1, 1e-5);
               },
               {}}};
}

std::vector<ops::Pool2dOptions> pool_options() {
  ops::Pool2dOptions k2, k3s2p1, k3s1, k3s2_exclude;
  k3s2p1.kh = k3s2p1.kw = 3;
  k3s2p1.ph = k3s2p1.pw = 1;
  k3s1.kh = k3s1.kw = 3;
  k3s1.sh = k3s1.sw = 1;
  k3s2_exclude.kh = 3;
  k3s2_exclude.kw = 2;
  k3s2_exclude.sh = 2;
  k3s2_exclude.sw = 1;
  k3s2_exclude.ph = 1;
  k3s2_exclude.count_include_pad = false;
  return {k2, k3s2p1, k3s1, k3s2_exclude};
}

BenchSpec maxpool_bench() {
  return {"maxpool2d 3x3 s2", {0, 1, 2}, [](Device dev, int64_t s) {
            Shape xs = {128, 64 << s, 32 >> s, 32 >> s};
            ops::Pool2dOptions o;
            o.kh = o.kw = 3;
            o.ph = o.pw = 1;
            Tensor x = bench_randn(xs, 25, dev);
            return BenchRun{dims(xs), 4.0 * 1.25 * double(shape_numel(xs)), 0, [=] { return ops::maxpool2d(x, o).y; }};
          }};
}

void add_pool_grads(std::vector<OpCase>& v, size_t max_case, size_t avg_case) {
  auto mp = [](ops::Pool2dOptions o) { return [o](const Vars& x) { return ag::maxpool2d(x[0], o); }; };
  v[max_case].grads = {{[] {
                          return Ins{distinct64({2, 3, 4, 6}, 90)};
                        },
                        mp({}),
                        {}},
                       {[] {
                          return Ins{distinct64({2, 2, 7, 5}, 91)};
                        },
                        mp({3, 3, 2, 2, 1, 1, true}),
                        {}},
                       {[] {
                          return Ins{distinct64({1, 7, 9, 2}, 92).permute({0, 3, 2, 1})};
                        },
                        mp({3, 3, 2, 2, 0, 0, true}),
                        {}}};
  v[max_case].benches.push_back(maxpool_bench());
  auto ap = [](ops::Pool2dOptions o) { return [o](const Vars& x) { return ag::avgpool2d(x[0], o); }; };
  for (bool include : {true, false}) {
    v[avg_case].grads.push_back({[] { return Ins{randn64({2, 3, 5, 6}, 100)}; }, ap({3, 3, 2, 2, 1, 1, include}), {}});
    v[avg_case].grads.push_back({[] {
                                   return Ins{randn64({1, 2, 4, 9}, 101).slice(3, 1, 8)};
                                 },
                                 ap({2, 3, 1, 2, 1, 1, include}),
                                 {}});
  }
  v[avg_case].grads.push_back({[] { return Ins{randn64({2, 6, 4, 3}, 102).permute({0, 3, 1, 2})}; }, ap({}), {}});
}

void add_pools(std::vector<OpCase>& v) {
  size_t max_case = 0, avg_case = 0, max_cl = 0, avg_cl = 0;
  for (MemoryFormat mf : {MemoryFormat::Contiguous, kCL})
    for (const ops::Pool2dOptions& o : pool_options()) {
      std::string what = "k" + std::to_string(o.kh) + "x" + std::to_string(o.kw) + " s" + std::to_string(o.sh) + "x" +
                         std::to_string(o.sw) + " p" + std::to_string(o.ph) +
                         (o.count_include_pad ? "" : " exclude pad") + layout_name(mf);
      kernels::Pool2dParams p = ops::pool2d_params({2, 5, 9, 11}, o);
      Shape ys = {2, 5, p.P, p.Q};
      bool cl = mf == kCL;
      // Distinct values: the arg-max, and so the routing of gradients, is unambiguous in every dtype.
      auto make_max = [mf, ys](DType d) {
        return Ins{distinct64({2, 5, 9, 11}, 55, 0.25).to(d).contiguous(mf), rand_input(ys, 56, d).contiguous(mf)};
      };
      auto run_max = [o, cl](const Ins& in, DType, Device) -> Outs {
        ops::MaxPoolOutput f = ops::maxpool2d(in[0], o);
        return {{"y", f.y, Cmp::Tol, {}, -1, cl},
                {"indices", f.indices, Cmp::Exact, {}, -1, cl},
                {"backward", ops::maxpool2d_bwd(in[1], f.indices, in[0].shape(), o), Cmp::Tol, {}, -1, cl}};
      };
      if (!cl && max_case == 0) max_case = v.size();
      if (cl && max_cl == 0) max_cl = v.size();
      v.push_back(op_case("norm_pool", "maxpool2d " + what, {OpKind::MAXPOOL2D, OpKind::MAXPOOL2D_BWD}, float_dtypes(),
                          make_max, run_max));
      auto make_avg = [mf, ys](DType d) {
        return Ins{rand_input({2, 5, 9, 11}, 57, d).contiguous(mf), rand_input(ys, 58, d).contiguous(mf)};
      };
      auto run_avg = [o, cl](const Ins& in, DType, Device) -> Outs {
        return {{"y", ops::avgpool2d(in[0], o), Cmp::Tol, {}, -1, cl},
                {"backward", ops::avgpool2d_bwd(in[1], in[0].shape(), o), Cmp::Tol, {}, -1, cl}};
      };
      if (!cl && avg_case == 0) avg_case = v.size();
      if (cl && avg_cl == 0) avg_cl = v.size();
      v.push_back(op_case("norm_pool", "avgpool2d " + what, {OpKind::AVGPOOL2D, OpKind::AVGPOOL2D_BWD}, float_dtypes(),
                          make_avg, run_avg));
    }
  add_pool_grads(v, max_case, avg_case);
  ops::Pool2dOptions o;
  o.kh = o.kw = 3;
  o.ph = o.pw = 1;
  v[max_cl].grads = {{[] {
                        return Ins{distinct64({2, 3, 5, 6}, 30).contiguous(kCL)};
                      },
                      [o](const Vars& x) { return ag::maxpool2d(x[0], o); },
                      {}}};
  for (bool include : {true, false}) {
    ops::Pool2dOptions a;
    a.kh = 3;
    a.kw = 2;
    a.sw = 1;
    a.ph = 1;
    a.count_include_pad = include;
    v[avg_cl].grads.push_back({[] {
                                 return Ins{randn64({2, 3, 5, 4}, 40).contiguous(kCL)};
                               },
                               [a](const Vars& x) { return ag::avgpool2d(x[0], a); },
                               {}});
  }
}

void add_pool_special(std::vector<OpCase>& v) {
  ops::Pool2dOptions o3;
  o3.kh = o3.kw = 3;
  o3.sh = o3.sw = 1;
  v.push_back(op_case(
      "norm_pool", "maxpool2d ties go to the first maximum in window order", {OpKind::MAXPOOL2D}, float_dtypes(),
      [](DType d) {
        return Ins{Tensor::full({1, 2, 6, 6}, 1.5, d)};
      },
      [o3](const Ins& in, DType, Device) {
        return Outs{{"indices", ops::maxpool2d(in[0], o3).indices, Cmp::Exact}};
      }));
  ops::Pool2dOptions o;
  o.kh = o.kw = 3;
  o.sh = o.sw = 2;
  o.ph = o.pw = 1;
  for (MemoryFormat mf : {MemoryFormat::Contiguous, kCL}) {
    auto run = [o](const Ins& in, DType, Device) -> Outs {
      ops::MaxPoolOutput f = ops::maxpool2d(in[0], o);
      return {{"indices", f.indices, Cmp::Exact}, {"y", f.y, Cmp::ExactNan}};
    };
    v.push_back(op_case(
        "norm_pool", std::string("maxpool2d carries NaN and inf") + layout_name(mf), {OpKind::MAXPOOL2D},
        float_dtypes(), [mf](DType d) { return Ins{reduce_nan_inf_input(d).contiguous(mf)}; }, run));
  }
}

void add_global_avgpool(std::vector<OpCase>& v) {
  size_t first = v.size();
  for (MemoryFormat mf : {MemoryFormat::Contiguous, kCL})
    for (Shape s : {Shape{3, 5, 7, 9}, Shape{2, 40, 1, 1}, Shape{2, 3, 40, 41}}) {
      v.push_back(op_case(
          "norm_pool", "global_avgpool " + shape_str(s) + layout_name(mf), {OpKind::GLOBAL_AVGPOOL}, float_dtypes(),
          [s, mf](DType d) { return Ins{rand_input(s, 59, d).contiguous(mf)}; },
          [](const Ins& in, DType, Device) {
            return Outs{{"y", ops::global_avgpool(in[0])}};
          }));
    }
  auto gap = [](const Vars& x) { return ag::global_avgpool(x[0]); };
  v[first + 3].grads = {{[] { return Ins{randn64({3, 5, 2, 3}, 50).contiguous(kCL)}; }, gap, {}}};
  v[first].grads = {{[] {
                       return Ins{randn64({3, 5, 3, 7}, 110)};
                     },
                     gap,
                     {}},
                    {[] {
                       return Ins{randn64({1, 4, 2, 5}, 111).permute({0, 1, 3, 2})};
                     },
                     gap,
                     {}},
                    {[] {
                       return Ins{randn64({2, 3, 1, 1}, 112)};
                     },
                     gap,
                     {}}};
}

}  // namespace

void add_norm_pool_cases(std::vector<OpCase>& v) {
  add_batchnorm(v);
  add_pools(v);
  add_pool_special(v);
  add_global_avgpool(v);
}

}  // namespace engine::opcases
