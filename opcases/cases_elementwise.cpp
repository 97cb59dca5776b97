// Elementwise ops, copies and casts, fills and random numbers.
#include "engine/autograd/functions.h"
#include "engine/ops/functional.h"
#include "opcases/op_cases.h"

namespace engine::opcases {
namespace {

using kernels::ActivationKind;
using kernels::BinaryOp;
using kernels::CompareOp;
using kernels::UnaryOp;
using Vars = std::vector<Variable>;
using Ins = std::vector<Tensor>;

const std::vector<DType> kAllDtypes = {DType::f32, DType::f64, DType::bf16, DType::f16,
                                       DType::i32, DType::i64, DType::u8};
constexpr MemoryFormat kCL = MemoryFormat::ChannelsLast;

struct BinaryInfo {
  BinaryOp op;
  OpKind kind;
  const char* name;
};
const BinaryInfo kBinary[] = {{BinaryOp::Add, OpKind::ADD, "add"}, {BinaryOp::Sub, OpKind::SUB, "sub"},
                              {BinaryOp::Mul, OpKind::MUL, "mul"}, {BinaryOp::Div, OpKind::DIV, "div"},
                              {BinaryOp::Pow, OpKind::POW, "pow"}, {BinaryOp::Maximum, OpKind::MAXIMUM, "maximum"}};

struct UnaryInfo {
  UnaryOp op;
  OpKind kind;
  const char* name;
};
const UnaryInfo kUnary[] = {{UnaryOp::Neg, OpKind::NEG, "neg"},       {UnaryOp::Exp, OpKind::EXP, "exp"},
                            {UnaryOp::Log, OpKind::LOG, "log"},       {UnaryOp::Sqrt, OpKind::SQRT, "sqrt"},
                            {UnaryOp::Rsqrt, OpKind::RSQRT, "rsqrt"}, {UnaryOp::Relu, OpKind::RELU, "relu"},
                            {UnaryOp::Gelu, OpKind::GELU, "gelu"},    {UnaryOp::Sigmoid, OpKind::SIGMOID, "sigmoid"},
                            {UnaryOp::Tanh, OpKind::TANH, "tanh"},    {UnaryOp::Clamp, OpKind::CLAMP, "clamp"}};

// Broadcast [5,1,7] x [3,7]; a transposed operand against a strided slice; an empty batch.
void add_binary(std::vector<OpCase>& v) {
  for (const BinaryInfo& b : kBinary) {
    BinaryOp op = b.op;
    // pow and div want a positive, non-small second operand; pow a positive base.
    bool positive = op == BinaryOp::Pow || op == BinaryOp::Div;
    auto make = [op, positive](DType d) -> Ins {
      Tensor a = positive ? rand_uniform_input({5, 1, 7}, 1, d, 0.5, 2.0) : rand_input({5, 1, 7}, 1, d);
      Tensor bb = positive ? rand_uniform_input({3, 7}, 2, d, 0.5, 2.0) : rand_input({3, 7}, 2, d);
      Tensor c = op == BinaryOp::Pow ? rand_uniform_input({9, 6}, 3, d, 0.5, 2.0) : rand_input({9, 6}, 3, d);
      Tensor e = rand_uniform_input({6, 19}, 4, d, 0.5, 2.0);
      return {a, bb, c, e, rand_input({0, 7}, 5, d)};
    };
    auto run = [op](const Ins& in, DType, Device) -> Outs {
      return {{"broadcast [5,1,7] x [3,7]", ops::binary(op, in[0], in[1])},
              {"transposed x strided slice", ops::binary(op, in[2].transpose(0, 1), in[3].slice(1, 1, 19, 2))},
              {"empty [0,7] x [3,1,7]", ops::binary(op, in[4], in[0].reshape({5, 7}).slice(0, 0, 1))}};
    };
    v.push_back(op_case("elementwise", b.name, {b.kind}, float_dtypes(), make, run));
  }
  OpCase& add = v[v.size() - 6];
  add.grads.push_back({[] {
                         return Ins{randn64({3, 1, 5}, 1), randn64({4, 1}, 2)};
                       },
                       [](const Vars& x) { return ag::add(x[0], x[1]); },
                       {}});
  add.benches.push_back(
      {"add (broadcast row)", {1 << 16, 1 << 20, 1 << 24, 1 << 26}, [](Device dev, int64_t n) {
         Tensor a = bench_randn({n / 256, 256}, 10, dev), b = bench_randn({256}, 11, dev);
         return BenchRun{dims({n / 256, 256}), 2.0 * 4 * double(n), 0, [=] { return ops::add(a, b); }};
       }});
  v[v.size() - 5].grads.push_back({[] {
                                     return Ins{randn64({5, 3}, 3).transpose(0, 1), randn64({5}, 4)};
                                   },
                                   [](const Vars& x) { return ag::sub(x[0], x[1]); },
                                   {}});
  v[v.size() - 4].grads.push_back({[] {
                                     return Ins{randn64({1, 7}, 5), randn64({3, 1}, 6)};
                                   },
                                   [](const Vars& x) { return ag::mul(x[0], x[1]); },
                                   {}});
  v[v.size() - 3].grads.push_back({[] {
                                     return Ins{randn64({2, 3}, 7), uniform64({3}, 8, 0.5, 2.0)};
                                   },
                                   [](const Vars& x) { return ag::div(x[0], x[1]); },
                                   {}});
  GradCheckOptions pow_o;
  pow_o.tol = 1e-5;
  v[v.size() - 2].grads.push_back({[] {
                                     return Ins{uniform64({4, 3}, 9, 0.5, 2.0), uniform64({4, 1}, 10, -1.5, 2.5)};
                                   },
                                   [](const Vars& x) { return ag::pow(x[0], x[1]); }, pow_o});
  v[v.size() - 1].grads.push_back({[] {
                                     Tensor ab = distinct64({2, 3, 4}, 11);
                                     return Ins{ab.select(0, 0), ab.select(0, 1)};
                                   },
                                   [](const Vars& x) { return ag::maximum(x[0], x[1]); },
                                   {}});
}

void add_compare_where(std::vector<OpCase>& v) {
  // Values on a 0.5 grid (exact in every float dtype): ties are common.
  auto make = [](DType d) -> Ins {
    return {coarse_input({4, 1, 5}, 5, d), coarse_input({3, 5}, 6, d), rand_input({3, 5}, 7, d), rand_input({5}, 8, d)};
  };
  auto run = [](const Ins& in, DType, Device) -> Outs {
    Outs o;
    for (CompareOp op : {CompareOp::Eq, CompareOp::Ne, CompareOp::Lt, CompareOp::Le, CompareOp::Gt, CompareOp::Ge})
      o.push_back({"compare " + std::to_string(int(op)), ops::compare(op, in[0], in[1]), Cmp::Exact});
    o.push_back({"where", ops::where(ops::compare(CompareOp::Gt, in[0], in[1]), in[2], in[3])});
    return o;
  };
  v.push_back(op_case("elementwise", "compare (broadcast, ties) and where", {OpKind::COMPARE, OpKind::WHERE},
                      float_dtypes(), make, run));
  v.back().grads.push_back({[] {
                              return Ins{randn64({3, 5}, 12), randn64({3, 1}, 13)};
                            },
                            [](const Vars& x) {
                              Tensor cond = Tensor::from_vector({1, 0, 1, 1, 0}, {5}, DType::u8);
                              return ag::where(cond, x[0], x[1]);
                            },
                            {}});
}

GradSpec unary_grad(UnaryOp op) {
  GradSpec g;
  auto positive = [] { return Ins{uniform64({3, 5}, 16, 0.3, 3.0)}; };
  switch (op) {
    case UnaryOp::Neg: return {[] { return Ins{randn64({7}, 14)}; }, [](const Vars& x) { return ag::neg(x[0]); }, {}};
    case UnaryOp::Exp:
      return {[] { return Ins{randn64({3, 5}, 15)}; }, [](const Vars& x) { return ag::exp(x[0]); }, {}};
    case UnaryOp::Log: return {positive, [](const Vars& x) { return ag::log(x[0]); }, {}};
    case UnaryOp::Sqrt: return {positive, [](const Vars& x) { return ag::sqrt(x[0]); }, {}};
    case UnaryOp::Rsqrt: return {positive, [](const Vars& x) { return ag::rsqrt(x[0]); }, {}};
    case UnaryOp::Relu:
      g.options.kinks = {0.0};
      g.options.kink_window = 1e-3;
      return {[] { return Ins{randn64({4, 6}, 19)}; }, [](const Vars& x) { return ag::relu(x[0]); }, g.options};
    case UnaryOp::Gelu:
      return {[] { return Ins{randn64({4, 5}, 20, 0, 2)}; }, [](const Vars& x) { return ag::gelu(x[0]); }, {}};
    case UnaryOp::Sigmoid:
      return {[] { return Ins{randn64({11}, 21, 0, 2)}; }, [](const Vars& x) { return ag::sigmoid(x[0]); }, {}};
    case UnaryOp::Tanh:
      return {[] { return Ins{randn64({11}, 22)}; }, [](const Vars& x) { return ag::tanh(x[0]); }, {}};
    case UnaryOp::Clamp:
      g.options.kinks = {-0.5, 0.7};
      g.options.kink_window = 1e-3;
      return {[] {
                return Ins{randn64({5, 5}, 23)};
              },
              [](const Vars& x) { return ag::clamp(x[0], -0.5, 0.7); }, g.options};
  }
  return g;
}

void add_unary(std::vector<OpCase>& v) {
  for (const UnaryInfo& u : kUnary) {
    UnaryOp op = u.op;
    bool positive = op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt;
    auto make = [positive](DType d) -> Ins {
      return {positive ? rand_uniform_input({7, 13}, 9, d, 0.1, 3.0) : rand_input({7, 13}, 9, d),
              rand_input({0, 3}, 10, d)};
    };
    auto run = [op](const Ins& in, DType, Device) -> Outs {
      return {{"transposed [13,7]", ops::unary(op, in[0].transpose(0, 1), -0.5, 0.7)},
              {"empty [0,3]", ops::unary(op, in[1], -0.5, 0.7)}};
    };
    v.push_back(op_case("elementwise", u.name, {u.kind}, float_dtypes(), make, run));
    v.back().grads.push_back(unary_grad(op));
  }
  v.push_back(op_case(
      "elementwise", "relu at exactly 0", {OpKind::RELU}, float_dtypes(),
      [](DType d) {
        return Ins{Tensor::from_vector({-1.0, 0.0, -0.0, 2.0}, {4}, d)};
      },
      [](const Ins& in, DType, Device) {
        return Outs{{"relu", ops::relu(in[0]), Cmp::Exact}};
      }));
  for (OpCase& c : v)
    if (c.name == "gelu")
      c.benches.push_back({"gelu", {1 << 16, 1 << 20, 1 << 24, 1 << 26}, [](Device dev, int64_t n) {
                             Tensor a = bench_randn({n}, 12, dev);
                             return BenchRun{dims({n}), 2.0 * 4 * double(n), 0, [=] { return ops::gelu(a); }};
                           }});
}

void add_activation_bwd(std::vector<OpCase>& v) {
  for (ActivationKind k : {ActivationKind::Relu, ActivationKind::Gelu, ActivationKind::Sigmoid, ActivationKind::Tanh}) {
    auto make = [k](DType d) -> Ins {
      return {rand_input({11, 5}, 10, d),
              k == ActivationKind::Sigmoid ? rand_uniform_input({11, 5}, 11, d, 0.0, 1.0) : rand_input({11, 5}, 11, d)};
    };
    auto run = [k](const Ins& in, DType, Device) -> Outs {
      return {{"gx", ops::activation_bwd(k, in[0], in[1])},
              {"gx of transposed views", ops::activation_bwd(k, in[0].transpose(0, 1), in[1].transpose(0, 1))}};
    };
    v.push_back(op_case("elementwise", "activation_bwd " + std::to_string(int(k)), {OpKind::ACTIVATION_BWD},
                        float_dtypes(), make, run));
  }
}

// Channels-last operands: the result keeps the layout.
void add_channels_last(std::vector<OpCase>& v) {
  for (uint64_t seed : {2u, 3u}) {
    auto make = [seed](DType d) -> Ins {
      Shape s = {3, 7, 5, 3};
      return {rand_input(s, seed, d).contiguous(kCL), rand_input(s, seed + 10, d).contiguous(kCL),
              rand_input({1, 7, 1, 1}, seed + 20, d)};
    };
    auto run = [](const Ins& in, DType, Device) -> Outs {
      Outs o = {{"relu", ops::relu(in[0])},
                {"add", ops::add(in[0], in[1])},
                {"mul by a per-channel scale", ops::mul(in[0], in[2])},
                {"relu backward", ops::activation_bwd(ActivationKind::Relu, in[1], in[0])}};
      for (Out& x : o) x.check_layout = true;
      return o;
    };
    v.push_back(op_case("elementwise", "channels-last [3,7,5,3] seed " + std::to_string(seed),
                        {OpKind::RELU, OpKind::ADD, OpKind::MUL, OpKind::ACTIVATION_BWD}, float_dtypes(), make, run));
  }
}

// Every dtype pair: contiguous, transposed, into a strided destination from a broadcast source.
void add_copy(std::vector<OpCase>& v) {
  auto make = [](DType s) -> Ins { return {rand_uniform_input({6, 9}, 12, DType::f64, 0.0, 120.0).to(s)}; };
  auto run = [](const Ins& in, DType, Device dev) -> Outs {
    Outs o;
    const Tensor& x = in[0];
    for (DType d : kAllDtypes) {
      std::string to = std::string(" -> ") + dtype_name(d);
      o.push_back({"cast" + to, x.to(d), Cmp::Exact});
      o.push_back({"transposed" + to, x.transpose(0, 1).to(d).contiguous(), Cmp::Exact});
      Tensor dst = Tensor::zeros({9, 12}, d, dev);
      dst.slice(1, 0, 12, 2).copy_from(x.select(0, 2).unsqueeze(1).expand({9, 6}));
      o.push_back({"into a strided view" + to, dst, Cmp::Exact});
    }
    Tensor cl = ops::relu(x.to(DType::f32).reshape({1, 6, 3, 3})).contiguous(kCL);
    o.push_back({"channels-last contiguous", cl, Cmp::Exact, {}, -1, true});
    return o;
  };
  OpCase c =
      op_case("elementwise", "copy: every dtype pair, strided, broadcast", {OpKind::COPY}, kAllDtypes, make, run);
  c.twin = false;
  c.grads.push_back({[] {
                       return Ins{randn64({3, 4}, 28)};
                     },
                     [](const Vars& x) { return ag::contiguous(ag::transpose(x[0], 0, 1)); },
                     {}});
  c.benches.push_back(
      {"cast f32->bf16",
       {1 << 16, 1 << 20, 1 << 24, 1 << 26},
       [](Device dev, int64_t n) {
         Tensor a = bench_randn({n}, 13, dev);
         return BenchRun{dims({n}), 6.0 * double(n), 0, [=] { return a.to(DType::bf16).to(DType::f32); }};
       },
       1e-2});
  v.push_back(c);
}

void add_fill_rng(std::vector<OpCase>& v) {
  auto fill = [](const Ins&, DType d, Device dev) -> Outs {
    Tensor g = Tensor::ones({4, 6}, d, dev);
    g.slice(1, 1, 6, 2).fill_(3.0);
    return {{"full", Tensor::full({3, 5}, 2.75, d, dev), Cmp::Exact},
            {"zeros", Tensor::zeros({7}, d, dev), Cmp::Exact},
            {"empty", Tensor::full({0, 4}, 1.0, d, dev), Cmp::Exact},
            {"strided fill", g, Cmp::Exact}};
  };
  OpCase f = op_case("elementwise", "fill: contiguous, empty and strided", {OpKind::FILL}, kAllDtypes, nullptr, fill);
  f.twin = false;
  v.push_back(f);
  // The CPU's Philox stream; normal values go through logf/cosf, whose last bits differ between libm and CUDA.
  auto rng = [](const Ins&, DType d, Device dev) -> Outs {
    return {{"uniform", ops::rand_uniform({1001}, 42, 12, d, dev, -1.5, 3.0), Cmp::Exact},
            {"normal", ops::randn({999}, 43, 5, d, dev, 0.5, 2.0), Cmp::Tol, {}, d == DType::bf16 ? 1e-2 : 1e-6}};
  };
  OpCase r = op_case("elementwise", "random numbers: the CPU's Philox stream",
                     {OpKind::RNG_UNIFORM, OpKind::RNG_NORMAL}, {DType::f32, DType::f64, DType::bf16}, nullptr, rng);
  r.twin = false;
  v.push_back(r);
}

void add_views(std::vector<OpCase>& v) {
  v.push_back(grad_case(
      "elementwise", "reshape of a non-contiguous input", OpKind::RESHAPE,
      [] {
        return Ins{randn64({4, 6}, 24).transpose(0, 1)};
      },
      [](const Vars& x) {
        return ag::mul(ag::reshape(x[0], {3, 8}), ag::reshape(x[0], {3, 8}));
      }));
  v.push_back(grad_case(
      "elementwise", "permute", OpKind::PERMUTE,
      [] {
        return Ins{randn64({2, 3, 4}, 25)};
      },
      [](const Vars& x) {
        return ag::permute(x[0], {2, 0, 1});
      }));
  v.push_back(grad_case(
      "elementwise", "slice with step", OpKind::SLICE,
      [] {
        return Ins{randn64({3, 8}, 26)};
      },
      [](const Vars& x) { return ag::slice(x[0], 1, 1, 7, 2); }));
  v.push_back(grad_case(
      "elementwise", "expand", OpKind::EXPAND,
      [] {
        return Ins{randn64({3, 1}, 27)};
      },
      [](const Vars& x) {
        return ag::expand(x[0], {4, 3, 5});
      }));
}

}  // namespace

void add_elementwise_cases(std::vector<OpCase>& v) {
  add_binary(v);
  add_compare_where(v);
  add_unary(v);
  add_activation_bwd(v);
  add_channels_last(v);
  add_copy(v);
  add_fill_rng(v);
  add_views(v);
}

}  // namespace engine::opcases
