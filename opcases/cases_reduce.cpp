// Reductions over axes (rows long and short), argmax with ties, NaN and inf through the arg-max ops.
#include <cmath>
#include <limits>

#include "engine/autograd/functions.h"
#include "engine/ops/functional.h"
#include "opcases/op_cases.h"

namespace engine::opcases {
namespace {

using Vars = std::vector<Variable>;
using Ins = std::vector<Tensor>;

void add_axes(std::vector<OpCase>& v) {
  // The first case also reduces an empty [0, 4] input.
  for (Shape s : {Shape{5, 3, 7}, Shape{3, 2000}, Shape{1, 70001}, Shape{4099, 3}}) {
    auto make = [s](DType d) { return Ins{rand_input(s, 13, d, 0.5, 1.0), rand_input({0, 4}, 14, d)}; };
    bool with_empty = s.size() == 3;
    auto run = [with_empty](const Ins& in, DType, Device) -> Outs {
      const Tensor& x = in[0];
      Outs o = {{"sum last axis", ops::sum(x, {-1})},
                {"sum first axis keepdim", ops::sum(x, {0}, true)},
                {"sum all", ops::sum(x)},
                {"mean", ops::mean(x, {-1})},
                {"max", ops::max(x, {-1})},
                {"var", ops::var(x, {-1})},
                {"var without correction", ops::var(x, {0}, 0, true)}};
      if (!with_empty) return o;
      o.push_back({"sum of a transposed view", ops::sum(x.transpose(0, 1), {-1})});
      o.push_back({"sum of empty rows", ops::sum(in[1], {-1})});
      o.push_back({"sum of an empty input, first axis", ops::sum(in[1], {0})});
      o.push_back({"sum of an empty input", ops::sum(in[1])});
      return o;
    };
    v.push_back(op_case("reduce", "sum, mean, max, var " + shape_str(s) + (with_empty ? " and an empty [0, 4]" : ""),
                        {OpKind::SUM, OpKind::MEAN, OpKind::MAX, OpKind::VAR}, float_dtypes(), make, run));
  }
  OpCase& first = v[v.size() - 4];
  first.grads.push_back({[] {
                           return Ins{randn64({3, 4, 5}, 31)};
                         },
                         [](const Vars& x) {
                           return ag::sum(x[0], {0, 2}, true);
                         },
                         {}});
  first.grads.push_back({[] {
                           return Ins{randn64({3, 4}, 32).transpose(0, 1)};
                         },
                         [](const Vars& x) { return ag::sum(x[0]); },
                         {}});
  first.benches.push_back(
      {"sum rows", {1 << 16, 1 << 20, 1 << 24, 1 << 26}, [](Device dev, int64_t n) {
         Tensor a = bench_randn({n / 1024, 1024}, 14, dev);
         return BenchRun{dims({n / 1024, 1024}), 4.0 * double(n), 0, [=] { return ops::sum(a, {1}); }};
       }});
  v.push_back(grad_case(
      "reduce", "grad mean over a negative axis", OpKind::MEAN,
      [] {
        return Ins{randn64({3, 7}, 33)};
      },
      [](const Vars& x) { return ag::mean(x[0], {-1}); }));
  OpCase mx = grad_case(
      "reduce", "grad max: distinct values, one and two axes", OpKind::MAX,
      [] {
        return Ins{distinct64({3, 5, 2}, 34)};
      },
      [](const Vars& x) { return ag::max(x[0], {1}); });
  mx.grads.push_back({[] {
                        return Ins{distinct64({3, 5, 2}, 35)};
                      },
                      [](const Vars& x) {
                        return ag::max(x[0], {0, 2}, true);
                      },
                      {}});
  v.push_back(mx);
  OpCase var = grad_case(
      "reduce", "grad var with and without correction", OpKind::VAR,
      [] {
        return Ins{randn64({4, 6}, 36)};
      },
      [](const Vars& x) { return ag::var(x[0], {1}); });
  var.grads.push_back({[] {
                         return Ins{randn64({4, 6}, 37)};
                       },
                       [](const Vars& x) {
                         return ag::var(x[0], {0, 1}, 0, true);
                       },
                       {}});
  v.push_back(var);
}

void add_argmax(std::vector<OpCase>& v) {
  for (Shape s : {Shape{6, 9}, Shape{3, 1000}, Shape{2, 5000}}) {
    auto make = [s](DType d) { return Ins{coarse_input(s, 14, d)}; };  // many ties
    auto run = [](const Ins& in, DType, Device) -> Outs {
      return {{"argmax last axis", ops::argmax(in[0], -1), Cmp::Exact},
              {"argmax axis 0 keepdim", ops::argmax(in[0], 0, true), Cmp::Exact}};
    };
    v.push_back(op_case("reduce", "argmax, the first maximum wins " + shape_str(s), {OpKind::ARGMAX}, float_dtypes(),
                        make, run));
  }
}

// NaN inside a row, +inf beside finite values, NaN after +inf, -inf, a row of -inf
// only, two NaN (the first wins): argmax and max carry them as the CPU does.
Tensor nan_inf_input(DType d) {
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  Tensor x64 = randn64({2, 3, 6, 7}, 91);
  double* p = x64.data<double>();
  p[3] = nan;
  p[50] = inf;
  p[51] = nan;
  p[100] = -inf;
  for (int i = 126; i < 133; ++i) p[i] = -inf;
  p[200] = nan;
  p[201] = nan;
  return x64.to(d);
}

void add_nan_inf(std::vector<OpCase>& v) {
  auto run = [](const Ins& in, DType, Device) -> Outs {
    Tensor rows = in[0].reshape({36, 7});
    return {{"argmax rows", ops::argmax(rows, -1), Cmp::Exact},
            {"argmax columns", ops::argmax(rows, 0), Cmp::Exact},
            {"max of rows", ops::max(rows, {1}), Cmp::ExactNan}};
  };
  v.push_back(op_case(
      "reduce", "argmax and max carry NaN and inf", {OpKind::ARGMAX, OpKind::MAX}, float_dtypes(),
      [](DType d) { return Ins{nan_inf_input(d)}; }, run));
}

}  // namespace

Tensor reduce_nan_inf_input(DType d) { return nan_inf_input(d); }

void add_reduce_cases(std::vector<OpCase>& v) {
  add_axes(v);
  add_argmax(v);
  add_nan_inf(v);
}

}  // namespace engine::opcases
