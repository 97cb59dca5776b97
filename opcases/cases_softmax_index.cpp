// softmax and log-softmax (forward, backward), cross-entropy (label smoothing), gather,
// scatter-add, index-select, index-add, concat, dropout and top-k.
#include <cmath>
#include <stdexcept>

#include "engine/autograd/functions.h"
#include "engine/ops/functional.h"
#include "opcases/op_cases.h"

namespace engine::opcases {
namespace {

using Vars = std::vector<Variable>;
using Ins = std::vector<Tensor>;
const std::vector<DType> kWide = {DType::f32, DType::f64};

Tensor labels_of(const std::vector<double>& v) { return Tensor::from_vector(v, {int64_t(v.size())}, DType::i64); }

void add_softmax(std::vector<OpCase>& v) {
  size_t first = v.size();
  for (Shape s : {Shape{7, 10}, Shape{3, 9, 5}, Shape{4, 3000}, Shape{2, 1}})
    for (int64_t axis : {int64_t(-1), int64_t(0)}) {
      // The backward runs on the same y on both devices (the CPU's softmax, rounded to d).
      auto make = [s, axis](DType d) {
        Tensor x = rand_input(s, 60, d, 0.0, 3.0);
        return Ins{x, rand_input(s, 61, d), ops::softmax(cpu_twin(x), axis).to(d),
                   ops::log_softmax(cpu_twin(x), axis).to(d)};
      };
      auto run = [axis](const Ins& in, DType, Device) -> Outs {
        Tensor empty = Tensor::zeros({0, 6}, in[0].dtype(), in[0].device());
        return {{"softmax", ops::softmax(in[0], axis)},
                {"log_softmax", ops::log_softmax(in[0], axis)},
                {"softmax of an empty [0, 6]", ops::softmax(empty, -1)},
                {"log_softmax of an empty [0, 6]", ops::log_softmax(empty, -1)},
                {"softmax_bwd", ops::softmax_bwd(in[1], in[2], axis)},
                {"log_softmax_bwd", ops::log_softmax_bwd(in[1], in[3], axis)}};
      };
      v.push_back(op_case("softmax", "softmax, log_softmax " + shape_str(s) + " axis " + std::to_string(axis),
                          {OpKind::SOFTMAX, OpKind::LOG_SOFTMAX, OpKind::SOFTMAX_BWD, OpKind::LOG_SOFTMAX_BWD},
                          float_dtypes(), make, run));
    }
  v.push_back(op_case(
      "softmax", "softmax of huge values stays finite", {OpKind::SOFTMAX, OpKind::LOG_SOFTMAX},
      {DType::f32, DType::f64},
      [](DType d) {
        return Ins{Tensor::from_vector({1000.0, 999.0, -1000.0, 5.0}, {1, 4}, d)};
      },
      [](const Ins& in, DType, Device) {
        return Outs{{"softmax", ops::softmax(in[0], -1)}, {"log_softmax", ops::log_softmax(in[0], -1)}};
      }));
  auto sm = [](int64_t axis) { return [axis](const Vars& x) { return ag::softmax(x[0], axis); }; };
  v[first].grads = {{[] {
                       return Ins{randn64({3, 5, 2}, 101)};
                     },
                     sm(1),
                     {}},
                    {[] {
                       return Ins{randn64({7, 4}, 102).transpose(0, 1)};
                     },
                     sm(-1),
                     {}},
                    {[] {
                       return Ins{randn64({1, 3}, 103)};
                     },
                     sm(0),
                     {}}};
  v[first].benches.push_back(
      {"softmax rows", {1 << 16, 1 << 20, 1 << 24, 1 << 26}, [](Device dev, int64_t n) {
         Tensor a = bench_randn({n / 1000, 1000}, 15, dev);
         return BenchRun{dims({n / 1000, 1000}), 8.0 * double(n / 1000 * 1000), 0, [=] { return ops::softmax(a, -1); }};
       }});
  auto lsm = [](int64_t axis) { return [axis](const Vars& x) { return ag::log_softmax(x[0], axis); }; };
  v.push_back(grad_case(
      "softmax", "grad log_softmax: middle axis, transposed view, large inputs", OpKind::LOG_SOFTMAX,
      [] {
        return Ins{randn64({2, 6, 3}, 104)};
      },
      lsm(1)));
  v.back().grads.push_back({[] { return Ins{randn64({5, 3}, 105).transpose(0, 1)}; }, lsm(-1), {}});
  v.back().grads.push_back({[] { return Ins{randn64({2, 5}, 106, 300.0, 4.0)}; }, lsm(-1), {}});
}

void add_cross_entropy(std::vector<OpCase>& v) {
  size_t first = v.size();
  for (Shape s : {Shape{9, 10}, Shape{5, 2001}, Shape{1, 3}})
    for (double smoothing : {0.0, 0.1}) {
      auto make = [s, smoothing](DType d) {
        Tensor logits = rand_input(s, 62, d, 0.0, 2.0), labels = random_index({s[0]}, s[1], 63);
        Tensor lse = ops::cross_entropy(cpu_twin(logits), labels, smoothing).lse.to(d);
        return Ins{logits, labels, Tensor::scalar(0.75, d), lse};
      };
      auto run = [smoothing](const Ins& in, DType, Device) -> Outs {
        ops::CrossEntropyOutput f = ops::cross_entropy(in[0], in[1], smoothing);
        return {{"loss", f.loss},
                {"lse", f.lse},
                {"backward", ops::cross_entropy_bwd(in[2], in[0], in[1], in[3], smoothing)}};
      };
      v.push_back(op_case("softmax", "cross_entropy " + shape_str(s) + " smoothing " + std::to_string(smoothing),
                          {OpKind::CROSS_ENTROPY, OpKind::CROSS_ENTROPY_BWD}, float_dtypes(), make, run));
    }
  auto ce = [](std::vector<double> l, double s) {
    return [l, s](const Vars& x) { return ag::cross_entropy(x[0], labels_of(l), s); };
  };
  v[first].grads = {{[] {
                       return Ins{randn64({5, 7}, 107)};
                     },
                     ce({3, 0, 6, 3, 1}, 0.0),
                     {}},
                    {[] {
                       return Ins{randn64({5, 7}, 108, 0.0, 3.0)};
                     },
                     ce({3, 0, 6, 3, 1}, 0.1),
                     {}},
                    {[] {
                       return Ins{randn64({1, 3}, 109)};
                     },
                     ce({2}, 0.25),
                     {}},
                    {[] {
                       return Ins{randn64({5, 4}, 110).transpose(0, 1)};
                     },
                     ce({0, 4, 2, 1}, 0.0),
                     {}}};
  v[first].benches.push_back(
      {"cross_entropy fwd", {1 << 16, 1 << 20, 1 << 24}, [](Device dev, int64_t n) {
         Tensor a = bench_randn({n / 100, 100}, 16, dev), labels = bench_index({n / 100}, 100, 17, dev);
         return BenchRun{dims({n / 100, 100}), 4.0 * double(n / 100 * 100), 0,
                         [=] { return ops::cross_entropy(a, labels, 0.1).loss; }};
       }});
}

// More picks than rows: repeated indices, colliding adds. The adds accumulate with
// f32/f64 atomics on CUDA, so their cases run in f32 and f64.
void add_gather_scatter(std::vector<OpCase>& v) {
  for (int64_t axis : {0, 1, 2}) {
    Shape xs = {4, 6, 5}, is = xs;
    is[size_t(axis)] = 7;
    auto make = [xs, is, axis](DType d) {
      return Ins{rand_input(xs, 64, d), random_index(is, xs[size_t(axis)], 65), rand_input(is, 66, d)};
    };
    std::string a = " axis " + std::to_string(axis);
    v.push_back(
        op_case("index", "gather" + a, {OpKind::GATHER}, float_dtypes(), make, [axis](const Ins& in, DType, Device) {
          return Outs{{"gather", ops::gather(in[0], axis, in[1])}};
        }));
    v.push_back(
        op_case("index", "scatter_add" + a, {OpKind::SCATTER_ADD}, kWide, make, [axis](const Ins& in, DType, Device) {
          return Outs{{"scatter_add", ops::scatter_add(in[0], axis, in[1], in[2])}};
        }));
  }
  for (int64_t axis : {0, 1, 2}) {
    Shape xs = {5, 4, 6}, ss = xs;
    ss[size_t(axis)] = 9;
    auto make = [xs, ss, axis](DType d) {
      return Ins{rand_input(xs, 67, d), random_index({9}, xs[size_t(axis)], 68), rand_input(ss, 69, d)};
    };
    std::string a = " axis " + std::to_string(axis);
    v.push_back(op_case("index", "index_select" + a, {OpKind::INDEX_SELECT}, float_dtypes(), make,
                        [axis](const Ins& in, DType, Device) {
                          return Outs{{"index_select", ops::index_select(in[0], axis, in[1])}};
                        }));
    v.push_back(
        op_case("index", "index_add" + a, {OpKind::INDEX_ADD}, kWide, make, [axis](const Ins& in, DType, Device) {
          return Outs{{"index_add", ops::index_add(in[0], axis, in[1], in[2])}};
        }));
  }
  for (OpCase& c : v)
    if (c.name == "index_select axis 0")
      c.benches.push_back(
          {"index_select rows", {1 << 16, 1 << 20, 1 << 24, 1 << 26}, [](Device dev, int64_t n) {
             Tensor a = bench_randn({n / 512, 512}, 18, dev), idx = bench_index({n / 512}, n / 512, 19, dev);
             return BenchRun{dims({n / 512, 512}), 8.0 * double(n), 0, [=] { return ops::index_select(a, 0, idx); }};
           }});
}

// Pieces of several sizes along each axis, an empty one among them.
void add_concat(std::vector<OpCase>& v) {
  for (int64_t axis : {0, 1, 2}) {
    auto make = [axis](DType d) {
      Ins xs;
      for (int64_t t = 0; t < 4; ++t) {
        Shape s = {3, 4, 5};
        s[size_t(axis)] = t == 2 ? 0 : t + 1;
        xs.push_back(rand_uniform_input(s, 70 + uint64_t(t), DType::f64, 0.0, 50.0).to(d));
      }
      return xs;
    };
    OpCase c = op_case("index", "concat with an empty piece, axis " + std::to_string(axis), {OpKind::CONCAT},
                       {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i64, DType::u8}, make,
                       [axis](const Ins& in, DType, Device) {
                         return Outs{{"concat", ops::concat(in, axis), Cmp::Exact}};
                       });
    c.twin = false;
    v.push_back(c);
  }
}

void add_dropout(std::vector<OpCase>& v) {
  for (double p : {0.0, 0.3, 1.0}) {
    OpCase c = op_case(
        "index", "dropout p " + std::to_string(p), {OpKind::DROPOUT}, float_dtypes(),
        [](DType d) {
          return Ins{rand_input({37, 29}, 74, d)};
        },
        [p](const Ins& in, DType, Device) {
          ops::DropoutOutput f = ops::dropout(in[0], p, 99, 8);
          return Outs{{"mask", f.mask, Cmp::Exact}, {"y", f.y}};
        });
    if (p == 0.3)
      c.benches.push_back(
          {"dropout p=0.1", {1 << 16, 1 << 20, 1 << 24, 1 << 26}, [](Device dev, int64_t n) {
             Tensor a = bench_randn({n}, 20, dev);
             return BenchRun{dims({n}), 9.0 * double(n), 0, [=] { return ops::dropout(a, 0.1, 7, 0).y; }};
           }});
    v.push_back(c);
  }
}

// Values on a coarse grid: many ties, which go to the lower index.
void add_topk(std::vector<OpCase>& v) {
  for (bool largest : {true, false})
    for (int64_t axis : {int64_t(-1), int64_t(0)}) {
      auto run = [largest, axis](const Ins& in, DType, Device) {
        Outs o;
        int64_t n = in[0].size(axis);
        for (int64_t k : {int64_t(1), int64_t(3), n}) {
          ops::TopKOutput f = ops::topk(in[0], k, axis, largest);
          o.push_back({"indices k " + std::to_string(k), f.indices, Cmp::Exact});
          o.push_back({"values k " + std::to_string(k), f.values});
        }
        return o;
      };
      v.push_back(op_case(
          "index", std::string("topk ") + (largest ? "largest" : "smallest") + " axis " + std::to_string(axis),
          {OpKind::TOPK}, float_dtypes(),
          [](DType d) {
            return Ins{coarse_input({6, 50}, 75, d, 1.0)};
          },
          run));
    }
  v[v.size() - 4].benches.push_back(
      {"topk k=2 of 64", {1 << 14, 1 << 18, 1 << 22}, [](Device dev, int64_t n) {
         Tensor a = bench_randn({n / 64, 64}, 21, dev);
         return BenchRun{dims({n / 64, 64}), 4.0 * double(n), 0, [=] { return ops::topk(a, 2, -1).values; }};
       }});
  v.push_back(op_case(
      "index", "topk ranks NaN above every number", {OpKind::TOPK}, float_dtypes(),
      [](DType d) {
        return Ins{Tensor::from_vector({1.0, NAN, 3.0, NAN, -2.0}, {1, 5}, d)};
      },
      [](const Ins& in, DType, Device) {
        return Outs{{"largest", ops::topk(in[0], 5, -1, true).indices, Cmp::Exact},
                    {"smallest", ops::topk(in[0], 5, -1, false).indices, Cmp::Exact},
                    {"values", ops::topk(in[0], 5, -1, true).values, Cmp::ExactNan}};
      }));
}

OpCase& named(std::vector<OpCase>& v, const std::string& name) {
  for (OpCase& c : v)
    if (c.name == name) return c;
  throw std::runtime_error("no op case " + name);
}

Tensor idx(const std::vector<double>& v, const Shape& s) { return Tensor::from_vector(v, s, DType::i64); }

// Repeated indices and targets, first, middle and last axes, strided inputs.
void add_index_grads(std::vector<OpCase>& v) {
  named(v, "gather axis 1").grads = {
      {[] {
         return Ins{randn64({2, 4, 2}, 201)};
       },
       [](const Vars& x) {
         return ag::gather(x[0], 1, idx({1, 3, 1, 1, 0, 2, 2, 0, 3, 3, 1, 1}, {2, 3, 2}));
       },
       {}},
      {[] {
         return Ins{randn64({3, 3}, 202).transpose(0, 1)};
       },
       [](const Vars& x) {
         return ag::gather(x[0], 0, idx({2, 0, 2, 1, 1, 1}, {2, 3}));
       },
       {}}};
  named(v, "scatter_add axis 1").grads = {
      {[] {
         return Ins{randn64({2, 5}, 203), randn64({2, 4}, 204)};
       },
       [](const Vars& x) {
         return ag::scatter_add(x[0], 1, idx({0, 4, 4, 1, 2, 2, 2, 3}, {2, 4}), x[1]);
       },
       {}},
      {[] {
         return Ins{randn64({3, 2}, 205).transpose(0, 1), randn64({1, 3}, 206)};
       },
       [](const Vars& x) {
         return ag::scatter_add(x[0], 0, idx({1, 0, 1}, {1, 3}), x[1]);
       },
       {}}};
  named(v, "index_select axis 0").grads = {{[] {
                                              return Ins{randn64({4, 3, 2}, 207)};
                                            },
                                            [](const Vars& x) {
                                              return ag::index_select(x[0], 0, idx({2, 0, 2, 3}, {4}));
                                            },
                                            {}},
                                           {[] {
                                              return Ins{randn64({2, 5}, 208).transpose(0, 1)};
                                            },
                                            [](const Vars& x) {
                                              return ag::index_select(x[0], -1, idx({1, 1, 0}, {3}));
                                            },
                                            {}}};
  named(v, "index_add axis 0").grads = {{[] {
                                           return Ins{randn64({5, 3}, 209), randn64({3, 3}, 210)};
                                         },
                                         [](const Vars& x) {
                                           return ag::index_add(x[0], 0, idx({1, 1, 4}, {3}), x[1]);
                                         },
                                         {}},
                                        {[] {
                                           return Ins{randn64({2, 3, 3}, 211), randn64({2, 2, 3}, 212)};
                                         },
                                         [](const Vars& x) {
                                           return ag::index_add(x[0], 1, idx({0, 2}, {2}), x[1]);
                                         },
                                         {}}};
  named(v, "concat with an empty piece, axis 1").grads = {
      {[] {
         return Ins{randn64({3, 2}, 213), randn64({4, 3}, 214).transpose(0, 1), randn64({3, 1}, 215)};
       },
       [](const Vars& x) {
         return ag::concat({x[0], x[1], x[2]}, 1);
       },
       {}},
      {[] {
         return Ins{randn64({1, 2, 3}, 216), randn64({2, 2, 3}, 217)};
       },
       [](const Vars& x) {
         return ag::concat({x[0], x[1]}, 0);
       },
       {}}};
  // A fixed seed makes the mask a constant.
  named(v, "dropout p " + std::to_string(0.3)).grads = {
      {[] {
         return Ins{randn64({4, 9}, 219)};
       },
       [](const Vars& x) { return ag::dropout(x[0], 0.3, true, 77, 5); },
       {}},
      {[] {
         return Ins{randn64({6, 5}, 220).transpose(0, 1)};
       },
       [](const Vars& x) { return ag::dropout(x[0], 0.6, true, 78, 0); },
       {}}};
  // Distinct values keep the top k away from ties.
  named(v, "topk largest axis -1").grads = {{[] {
                                               return Ins{distinct64({2, 6, 3}, 223)};
                                             },
                                             [](const Vars& x) { return ag::topk(x[0], 3, 1).values; },
                                             {}},
                                            {[] {
                                               return Ins{distinct64({5, 4}, 224).transpose(0, 1)};
                                             },
                                             [](const Vars& x) { return ag::topk(x[0], 2, -1, false).values; },
                                             {}}};
}

}  // namespace

void add_softmax_index_cases(std::vector<OpCase>& v) {
  add_softmax(v);
  add_cross_entropy(v);
  add_gather_scatter(v);
  add_concat(v);
  add_dropout(v);
  add_topk(v);
  add_index_grads(v);
}

}  // namespace engine::opcases
