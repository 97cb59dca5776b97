// Optimizer updates (per tensor and multi-tensor, several steps) and loss-scale unscaling.
#include <cmath>
#include <limits>

#include "engine/ops/functional.h"
#include "opcases/op_cases.h"

namespace engine::opcases {
namespace {

using Ins = std::vector<Tensor>;

void add_sgd(std::vector<OpCase>& v) {
  for (bool nesterov : {false, true})
    for (double momentum : {0.0, 0.9}) {
      if (nesterov && momentum == 0.0) continue;
      // param, momentum buffer, three gradients
      auto make = [](DType d) {
        return Ins{rand_input({33, 7}, 80, d), Tensor::zeros({33, 7}, d), rand_input({33, 7}, 81, d),
                   rand_input({33, 7}, 82, d), rand_input({33, 7}, 83, d)};
      };
      auto run = [momentum, nesterov](const Ins& in, DType, Device) -> Outs {
        for (int step = 0; step < 3; ++step)
          ops::sgd_step(in[0], in[size_t(2 + step)], momentum != 0 ? in[1] : Tensor(), 0.1, momentum, 0.0, 1e-2,
                        nesterov, step == 0);
        return {{"param", in[0]}, {"buffer", in[1]}};
      };
      v.push_back(op_case("optim",
                          "sgd_step momentum " + std::to_string(momentum) + (nesterov ? " nesterov" : "") + ", 3 steps",
                          {OpKind::SGD_STEP}, float_dtypes(), make, run));
    }
}

void add_adamw(std::vector<OpCase>& v) {
  auto make = [](DType d) {
    return Ins{rand_input({129}, 84, d), Tensor::zeros({129}, d),  Tensor::zeros({129}, d),
               rand_input({129}, 86, d), rand_input({129}, 87, d), rand_input({129}, 88, d)};
  };
  auto run = [](const Ins& in, DType, Device) -> Outs {
    for (int64_t step = 1; step <= 3; ++step)
      ops::adamw_step(in[0], in[size_t(2 + step)], in[1], in[2], 1e-2, 0.9, 0.999, 1e-8, 0.05, step);
    return {{"param", in[0]}, {"first moment", in[1]}, {"second moment", in[2]}};
  };
  OpCase c = op_case("optim", "adamw_step, 3 steps", {OpKind::ADAMW_STEP}, float_dtypes(), make, run);
  c.benches.push_back({"adamw_step", {1 << 16, 1 << 20, 1 << 24, 1 << 26}, [](Device dev, int64_t n) {
                         Tensor p = bench_randn({n}, 26, dev), g = bench_randn({n}, 27, dev);
                         Tensor m = Tensor::zeros({n}, DType::f32, dev), v2 = Tensor::zeros({n}, DType::f32, dev);
                         return BenchRun{dims({n}), 7.0 * 4 * double(n), 0, [=] {
                                           ops::adamw_step(p, g, m, v2, 1e-3, 0.9, 0.999, 1e-8, 0.01, 1);
                                           return m;
                                         }};
                       }});
  v.push_back(c);
}

// A group with an empty tensor, a scalar, tensors spanning many chunks.
const std::vector<Shape> kGroup = {{0}, {1}, {33, 7}, {5}, {331, 307}, {2, 3, 3, 3}, {70001}};
const size_t kN = kGroup.size();

Ins group(uint64_t seed, DType d) {
  Ins out;
  for (const Shape& s : kGroup) out.push_back(rand_input(s, seed++, d));
  return out;
}

Ins zeros_of(uint64_t, DType d) {
  Ins out;
  for (const Shape& s : kGroup) out.push_back(Tensor::zeros(s, d));
  return out;
}

Ins slice(const Ins& in, size_t first) { return Ins(in.begin() + long(first), in.begin() + long(first + kN)); }

// Inputs: params, buffers (or moments), second moments, three steps of gradients.
Ins multi_inputs(DType d, uint64_t seed) {
  Ins in = group(seed, d);
  for (const Ins& part :
       {zeros_of(0, d), zeros_of(0, d), group(seed + 100, d), group(seed + 110, d), group(seed + 120, d)})
    in.insert(in.end(), part.begin(), part.end());
  return in;
}

Outs group_outs(const std::string& what, const Ins& ts) {
  Outs o;
  for (size_t i = 0; i < ts.size(); ++i) o.push_back({what + " " + std::to_string(i), ts[i]});
  return o;
}

Ins clones(const Ins& ts) {
  Ins out;
  for (const Tensor& t : ts) out.push_back(t.clone());
  return out;
}

// multi - per-tensor for each tensor of the group: exactly zero in f32 and f64 on every
// device (the multi-tensor kernels give the per-tensor kernels' bits).
void push_differences(Outs& o, const Ins& multi, const Ins& per_tensor) {
  DType d = multi[0].dtype();
  Cmp cmp = d == DType::f32 || d == DType::f64 ? Cmp::Exact : Cmp::Tol;
  for (size_t i = 0; i < multi.size(); ++i)
    o.push_back({"multi minus per-tensor " + std::to_string(i), ops::sub(multi[i], per_tensor[i]), cmp});
}

void add_multi(std::vector<OpCase>& v) {
  const std::vector<double> wd = {0.0, 5e-4, 1e-2, 0.0, 5e-4, 0.1, 1e-3};
  for (double momentum : {0.0, 0.9})
    for (bool nesterov : {false, true}) {
      if (nesterov && momentum == 0.0) continue;
      auto run = [=](const Ins& in, DType, Device) -> Outs {
        Ins p = slice(in, 0), b = slice(in, kN), pr = clones(p), br = clones(b);
        for (int step = 0; step < 3; ++step) {
          std::vector<bool> first(kN, momentum != 0 && step == 0);
          first[2] = momentum != 0 && step == 1;  // its buffer restarts at the second step
          Ins g = slice(in, (3 + size_t(step)) * kN);
          ops::sgd_step_multi(p, g, momentum != 0 ? b : Ins{}, 0.1, momentum, 0.0, wd, nesterov, first);
          for (size_t i = 0; i < kN; ++i)
            ops::sgd_step(pr[i], g[i], momentum != 0 ? br[i] : Tensor(), 0.1, momentum, 0.0, wd[i], nesterov, first[i]);
        }
        Outs o = group_outs("param", p), ob = group_outs("buffer", b);
        o.insert(o.end(), ob.begin(), ob.end());
        push_differences(o, p, pr);
        return o;
      };
      v.push_back(op_case(
          "optim",
          "sgd_step_multi momentum " + std::to_string(momentum) + (nesterov ? " nesterov" : "") +
              ", against the per-tensor op too",
          {OpKind::SGD_STEP_MULTI, OpKind::SGD_STEP}, float_dtypes(), [](DType d) { return multi_inputs(d, 80); },
          run));
    }
  const std::vector<double> awd = {0.0, 0.01, 0.05, 0.0, 0.01, 0.2, 0.0};
  auto run = [awd](const Ins& in, DType, Device) -> Outs {
    Ins p = slice(in, 0), m = slice(in, kN), s = slice(in, 2 * kN);
    Ins pr = clones(p), mr = clones(m), sr = clones(s);
    for (int64_t step = 1; step <= 3; ++step) {
      Ins g = slice(in, (2 + size_t(step)) * kN);
      ops::adamw_step_multi(p, g, m, s, 1e-2, 0.9, 0.999, 1e-8, awd, step);
      for (size_t i = 0; i < kN; ++i) ops::adamw_step(pr[i], g[i], mr[i], sr[i], 1e-2, 0.9, 0.999, 1e-8, awd[i], step);
    }
    Outs o = group_outs("param", p), om = group_outs("exp_avg", m), os = group_outs("exp_avg_sq", s);
    o.insert(o.end(), om.begin(), om.end());
    o.insert(o.end(), os.begin(), os.end());
    push_differences(o, p, pr);
    return o;
  };
  v.push_back(op_case(
      "optim", "adamw_step_multi, 3 steps, against the per-tensor op too",
      {OpKind::ADAMW_STEP_MULTI, OpKind::ADAMW_STEP}, float_dtypes(), [](DType d) { return multi_inputs(d, 300); },
      run));
  v.push_back(op_case(
      "optim", "sum_squares_multi", {OpKind::SUM_SQUARES_MULTI}, float_dtypes(), [](DType d) { return group(500, d); },
      [](const Ins& in, DType, Device) {
        return Outs{{"sum of squares", ops::sum_squares_multi(in), Cmp::Tol, DType::f64},
                    {"only empty tensors", ops::sum_squares_multi({in[0]}), Cmp::Exact}};
      }));
}

// Both devices multiply in the same precision (f32 for bf16/f16), so the results agree
// bit for bit; 1/3000 exercises the rounding. One inf or NaN raises the shared flag,
// which a later clean call never lowers.
void add_amp(std::vector<OpCase>& v) {
  for (uint64_t seed : {1, 2, 3}) {
    auto make = [seed](DType d) {
      std::vector<double> bad(37, 1.0);
      bad[size_t(seed) * 11] = seed == 2 ? std::nan("") : std::numeric_limits<double>::infinity();
      return Ins{rand_input({257, 3}, seed, d, 0.0, 500.0), rand_input({1}, seed + 10, d),
                 rand_input({4099}, seed + 20, d, 0.0, 1e3), Tensor::from_vector(bad, {37}, d)};
    };
    auto run = [](const Ins& in, DType, Device dev) -> Outs {
      Tensor clean = Tensor::zeros({1}, DType::f32, dev), flag = Tensor::zeros({1}, DType::f32, dev);
      ops::amp_unscale_({in[0], in[1], in[2]}, clean, 1.0 / 3000.0);
      ops::amp_unscale_({in[0].clone(), in[3]}, flag, 0.5);
      Tensor raised = flag.clone();
      ops::amp_unscale_({in[1].clone()}, flag, 0.5);
      return {{"grad 0", in[0], Cmp::Exact},
              {"grad 1", in[1], Cmp::Exact},
              {"grad 2", in[2], Cmp::Exact},
              {"flag after clean grads", clean, Cmp::Exact},
              {"grads with inf or NaN", in[3], Cmp::ExactNan},
              {"flag raised", raised, Cmp::Exact},
              {"flag kept", flag, Cmp::Exact}};
    };
    OpCase c = op_case("amp", "amp_unscale_ odd sizes, seed " + std::to_string(seed), {OpKind::AMP_UNSCALE},
                       float_dtypes(), make, run);
    c.check = [](const Outs& got, const Outs&, DType) -> std::string {
      if (got[3].t.item() != 0.0 || got[5].t.item() != 1.0 || got[6].t.item() != 1.0) return "found-inf flag wrong";
      return "";
    };
    c.twin = false;  // the CPU path widens bf16/f16 to f32 and rounds back, as the kernel does
    v.push_back(c);
  }
}

}  // namespace

void add_optim_amp_cases(std::vector<OpCase>& v) {
  add_sgd(v);
  add_adamw(v);
  add_multi(v);
  add_amp(v);
}

}  // namespace engine::opcases
