// Mixture of experts: routing (bit for bit: rows, offsets, counts, dropped slots; the
// one-block placement and the CUB sorting path), the grouped expert GEMMs (cuBLAS
// grouped and tiled paths; an empty expert, rows past offsets[E]) and the fused router.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "engine/autograd/functions.h"
#include "engine/ops/functional.h"
#include "opcases/op_cases.h"

namespace engine::opcases {
namespace {

using Ins = std::vector<Tensor>;
using Vars = std::vector<Variable>;
const std::vector<DType> kWide = {DType::f32, DType::f64};

// k distinct experts per token out of E, never `skip` (an expert left without rows),
// some tokens taking the lowest experts in order so that those overflow.
Tensor route_choices(int64_t T, int64_t k, int64_t E, int64_t skip, uint64_t seed, int sorted_every) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> idx;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int64_t> perm;
    for (int64_t e = 0; e < E; ++e)
      if (e != skip) perm.push_back(e);
    std::shuffle(perm.begin(), perm.end(), rng);
    if (rng() % uint64_t(sorted_every) == 0) std::sort(perm.begin(), perm.end());
    for (int64_t j = 0; j < k; ++j) idx.push_back(perm[size_t(j)]);
  }
  return i64_tensor(idx, {T, k});
}

// Priorities on a coarse grid (ties), a NaN, an -inf, a -0 and a +0.
Tensor route_priority(int64_t T, int64_t k, DType d, uint64_t seed) {
  std::vector<double> v = uniform64({T, k}, seed, 0.0, 1.0).to_vector();
  for (double& x : v) x = std::floor(x * 8.0) / 8.0;
  const size_t n = v.size();
  v[1 % n] = std::numeric_limits<double>::quiet_NaN();
  v[n / 2] = -std::numeric_limits<double>::infinity();
  if (n > 3) {
    v[n / 3] = -0.0;
    v[(2 * n) / 3] = 0.0;
  }
  return Tensor::from_vector(v, {T, k}, d);
}

void route_outs(Outs& o, const std::string& what, const ops::MoeRouteOutput& r, Device dev) {
  o.push_back({what + " kept", Tensor::scalar(double(r.kept), DType::i64).to(dev), Cmp::Exact});
  o.push_back({what + " dropped", Tensor::scalar(double(r.dropped), DType::i64).to(dev), Cmp::Exact});
  o.push_back({what + " counts", r.counts, Cmp::Exact});
  o.push_back({what + " offsets", r.offsets, Cmp::Exact});
  o.push_back({what + " row_token", r.row_token, Cmp::Exact});
  o.push_back({what + " row_slot", r.row_slot, Cmp::Exact});
  o.push_back({what + " row_expert", r.row_expert, Cmp::Exact});
  o.push_back({what + " dropped_slots", r.dropped_slots, Cmp::Exact});
}

struct RouteCase {
  int64_t T, k, E, skip;
  int sorted_every;
  std::vector<int64_t> capacities;  // -2: moe_capacity(1.0, ...)
};

// Inputs: expert choices, priorities of the case's dtype. Outputs by order and by priority per capacity.
void push_route(std::vector<OpCase>& v, const RouteCase& c, const std::string& impl) {
  auto make = [c](DType d) {
    return Ins{route_choices(c.T, c.k, c.E, c.skip, uint64_t(900 + c.T + c.k), c.sorted_every),
               route_priority(c.T, c.k, d, uint64_t(910 + c.T))};
  };
  auto run = [c](const Ins& in, DType, Device dev) {
    Outs o;
    for (int64_t cap : c.capacities) {
      if (cap == -2) cap = ops::moe_capacity(1.0, c.T, c.k, c.E);
      std::string what = "capacity " + std::to_string(cap);
      route_outs(o, what + " by order", ops::moe_route(in[0], Tensor(), c.E, cap), dev);
      route_outs(o, what + " by priority", ops::moe_route(in[0], in[1], c.E, cap), dev);
    }
    return o;
  };
  std::string name = "moe_route T " + std::to_string(c.T) + " k " + std::to_string(c.k) + " E " + std::to_string(c.E);
  if (c.skip < 0 && c.T > 1 && c.E > 1) name += ", every slot on one expert";
  OpCase oc = op_case("moe", name + (impl.empty() ? "" : ", " + impl + " path"), {OpKind::MOE_ROUTE}, kWide, make, run);
  if (!impl.empty()) oc.env = {"ENGINE_MOE_ROUTE=" + impl};
  v.push_back(oc);
}

// Routing for benchmarks: top-2 of 8 from random logits on the device.
ops::TopKOutput bench_routing(Device dev, int64_t T) {
  return ops::topk(ops::softmax(bench_randn({T, 8}, 30, dev), -1), 2, -1);
}

void add_route_benches(OpCase& c) {
  for (std::string impl : {"sort", "place"})
    c.benches.push_back({std::string("moe_route dropless, ") + (impl == "sort" ? "CUB sort" : "one-block placement"),
                         {1 << 13, 1 << 16, 1 << 18},
                         [impl](Device dev, int64_t T) {
                           Tensor idx = bench_routing(dev, T).indices;
                           // Reads the slots' experts; writes three i64 rows per slot and the offsets.
                           return BenchRun{dims({T, 2}), 8.0 * double(T * 2) * 4, 0, [=] {
                                             EnvScope env({"ENGINE_MOE_ROUTE=" + impl});
                                             return ops::moe_route(idx, Tensor(), 8, -1).row_token.to(DType::f64);
                                           }};
                         }});
  c.benches.push_back({"moe dispatch (gather token rows, C 256)",
                       {1 << 13, 1 << 16},
                       [](Device dev, int64_t T) {
                         ops::MoeRouteOutput r = ops::moe_route(bench_routing(dev, T).indices, Tensor(), 8, -1);
                         Tensor x = bench_randn({T, 256}, 34, dev);
                         // Each routed row read once and written once, plus its token index.
                         return BenchRun{dims({T, 256}) + " k2", 8.0 * double(r.kept * 256) + 8.0 * double(r.kept), 0,
                                         [=] { return ops::index_select(x, 0, r.row_token); }};
                       },
                       1e-6});
  c.benches.push_back({"moe combine (weighted index_add)",
                       {1 << 13, 1 << 16},
                       [](Device dev, int64_t T) {
                         ops::TopKOutput top = bench_routing(dev, T);
                         ops::MoeRouteOutput r = ops::moe_route(top.indices, Tensor(), 8, -1);
                         Tensor ye = bench_randn({r.kept, 256}, 33, dev);
                         Tensor w = ops::index_select(top.values.reshape({T * 2}), 0, r.row_slot).reshape({r.kept, 1});
                         Tensor zeros = Tensor::zeros({T, 256}, DType::f32, dev);
                         return BenchRun{dims({T, 256}), 4.0 * double(r.kept * 256) * 3 + 4.0 * double(T * 256), 0,
                                         [=] { return ops::index_add(zeros, 0, r.row_token, ops::mul(ye, w)); }};
                       },
                       1e-4});
}

void add_route(std::vector<OpCase>& v) {
  size_t first = v.size();
  // 600 slots span several chunks of the placement block.
  for (int64_t T : {int64_t(1), int64_t(37), int64_t(300)})
    for (int64_t k : {int64_t(1), int64_t(2)}) push_route(v, {T, k, 5, 3, 2, {-1, 0, 3, -2, T * k}}, "");
  push_route(v, {41, 1, 4, -1, 1, {-1, 5}}, "");  // sorted_every 1 with skip -1 and k 1: expert 0 for all
  push_route(v, {9, 1, 1, -1, 1, {4}}, "");
  // Odd T; several radix-sort tiles in the last two; E = 1 and E above 16 (5 key bits).
  for (std::string impl : {"sort", "place", "auto"})
    for (const RouteCase& c : {RouteCase{1, 1, 1, -1, 3, {}}, RouteCase{37, 2, 5, 3, 3, {}},
                               RouteCase{1001, 2, 7, 0, 3, {}}, RouteCase{4099, 3, 19, 11, 3, {}}}) {
      RouteCase r = c;
      r.capacities = {-1, 0, 1, -2, c.T * c.k};
      push_route(v, r, impl);
    }
  push_route(v, {3001, 1, 4, -1, 1, {100}}, "sort");
  add_route_benches(v[first]);
}

struct GemmCase {
  std::vector<int64_t> rows;  // per expert
  int64_t tail, Cin, Cout;
};

Tensor offsets_of(const std::vector<int64_t>& rows) {
  std::vector<int64_t> off(1, 0);
  for (int64_t n : rows) off.push_back(off.back() + n);
  return i64_tensor(off, {int64_t(off.size())});
}

void push_gemm(std::vector<OpCase>& v, const GemmCase& c, const std::string& impl, uint64_t seed) {
  const int64_t E = int64_t(c.rows.size());
  const int64_t used = std::accumulate(c.rows.begin(), c.rows.end(), int64_t(0)), R = used + c.tail;
  auto make = [c, E, R, seed](DType d) {
    return Ins{rand_input({R, c.Cin}, 1100 + R + seed, d), rand_input({E, c.Cin, c.Cout}, 1101 + seed, d),
               rand_input({R, c.Cout}, 1102 + R + seed, d), offsets_of(c.rows)};
  };
  auto run = [c, E, used, R](const Ins& in, DType, Device) {
    Tensor y = ops::moe_grouped_matmul(in[0], in[1], in[3]);
    Tensor gx = ops::moe_grouped_matmul_bwd_data(in[2], in[1], in[3]);
    Tensor gw = ops::moe_grouped_matmul_bwd_weight(in[0], in[2], in[3], E);
    Outs o = {{"forward", y},
              {"backward-data", gx},
              {"backward-weight", gw},
              {"forward rows past offsets[E]", y.slice(0, used, R), Cmp::Exact},
              {"backward-data rows past offsets[E]", gx.slice(0, used, R), Cmp::Exact}};
    for (int64_t e = 0; e < E; ++e)
      if (c.rows[size_t(e)] == 0)
        o.push_back({"backward-weight of empty expert " + std::to_string(e), gw.select(0, e), Cmp::Exact});
    return o;
  };
  std::string name = "moe_grouped_matmul rows " + dims(Shape(c.rows)) + " tail " + std::to_string(c.tail) + " Cin " +
                     std::to_string(c.Cin) + " Cout " + std::to_string(c.Cout) + " seed " + std::to_string(seed);
  OpCase oc =
      op_case("moe", name + (impl.empty() ? "" : ", " + impl + " path"),
              {OpKind::MOE_GROUPED_MATMUL, OpKind::MOE_GROUPED_MATMUL_BWD_DATA, OpKind::MOE_GROUPED_MATMUL_BWD_WEIGHT},
              float_dtypes(), make, run);
  if (!impl.empty()) oc.env = {"ENGINE_MOE_GEMM=" + impl};
  v.push_back(oc);
}

BenchSpec gemm_bench(int which) {
  // The grouped expert GEMM over the routed rows through cuBLAS's grouped GEMM and
  // through the tiled kernel, and beside them one dense GEMM of the same FLOPs
  // ([T*k, C] x [C, H]), the rate the grouped ones are measured against.
  const char* names[] = {"moe grouped GEMM C->H, cuBLAS grouped (8 experts)",
                         "moe grouped GEMM C->H, tiled (8 experts)", "dense GEMM, same FLOPs"};
  return {names[which],
          {1 << 13, 1 << 15},
          [which](Device dev, int64_t T) {
            const int64_t C = 256, H = 1024, R = T * 2;
            double flops = 2.0 * double(R) * double(C) * double(H);
            Tensor x = bench_randn({R, C}, 31, dev);
            if (which == 2) {
              Tensor w = ops::mul(bench_randn({C, H}, 32, dev), 0.05);
              return BenchRun{dims({R, C, H}), 0, flops, [=] { return ops::matmul(x, w); }};
            }
            Tensor w = ops::mul(bench_randn({8, C, H}, 32, dev), 0.05);
            Tensor offsets = ops::moe_route(bench_routing(dev, T).indices, Tensor(), 8, -1).offsets;
            std::string impl = which == 0 ? "cublas" : "tiled";
            return BenchRun{dims({R, C, H}) + " E8", 0, flops, [=] {
                              EnvScope env({"ENGINE_MOE_GEMM=" + impl});
                              return ops::moe_grouped_matmul(x, w, offsets);
                            }};
          },
          1e-3};
}

void add_gemm(std::vector<OpCase>& v) {
  size_t first = v.size();
  // An empty expert first and in the middle, rows past offsets[E], odd sizes, one row;
  // several row, column and K tiles in the larger ones.
  const std::vector<GemmCase> cases = {{{5, 0, 17, 1}, 3, 13, 7},
                                       {{0, 5, 0, 17, 1}, 3, 13, 7},
                                       {{40, 33, 0}, 0, 37, 29},
                                       {{1}, 2, 1, 3},
                                       {{129, 0, 64, 250}, 5, 96, 160}};
  for (const GemmCase& c : cases) push_gemm(v, c, "", 0);
  for (std::string impl : {"cublas", "tiled"})
    for (size_t i = 1; i < cases.size(); ++i)
      for (uint64_t seed : {uint64_t(0), uint64_t(1)}) push_gemm(v, cases[i], impl, seed);
  v[first].benches = {gemm_bench(0), gemm_bench(1), gemm_bench(2)};
  auto gm = [](std::vector<int64_t> off) {
    return [off](const Vars& x) { return ag::moe_grouped_matmul(x[0], x[1], i64_tensor(off, {int64_t(off.size())})); };
  };
  v[first].grads = {// An expert without rows, a padding row.
                    {[] {
                       return Ins{randn64({7, 3}, 301), randn64({4, 3, 5}, 302)};
                     },
                     gm({0, 2, 2, 6, 7}),
                     {}},
                    // Rows past offsets[E] give zero and take no gradient; x is a transposed view.
                    {[] {
                       return Ins{randn64({2, 5}, 303).transpose(0, 1), randn64({2, 2, 3}, 304)};
                     },
                     gm({0, 1, 3}),
                     {}},
                    // One row, one expert.
                    {[] {
                       return Ins{randn64({1, 4}, 305), randn64({1, 4, 2}, 306)};
                     },
                     gm({0, 1}),
                     {}}};
}

struct RouterCase {
  int64_t T, C, E, k;
  bool renorm;
  double temperature;
};

// The chosen experts must agree wherever the CPU's k-th and (k+1)-th probabilities are
// apart by more than rounding.
std::string check_choices(const RouterCase& c, const Outs& got, const Outs& want, DType d) {
  std::vector<double> p = want[1].t.to_vector();
  std::vector<double> wi = want[2].t.to_vector(), gi = got[2].t.to_vector();
  std::vector<double> wt = want[3].t.to_vector(), gt = got[3].t.to_vector();
  const double gap = 50 * parity_tol(d);
  int64_t compared = 0, differ = 0;
  for (int64_t t = 0; t < c.T; ++t) {
    std::vector<double> row(p.begin() + t * c.E, p.begin() + (t + 1) * c.E);
    std::sort(row.rbegin(), row.rend());
    bool clear = true;
    for (int64_t j = 0; j + 1 < c.E && j <= c.k; ++j) clear = clear && row[size_t(j)] - row[size_t(j + 1)] > gap;
    if (!clear) continue;
    ++compared;
    for (int64_t j = 0; j < c.k; ++j) {
      const size_t s = size_t(t * c.k + j);
      if (wi[s] != gi[s] || std::abs(wt[s] - gt[s]) > gap) ++differ;
    }
  }
  if (differ > 0) return std::to_string(differ) + " chosen experts differ of " + std::to_string(compared) + " tokens";
  if (d != DType::bf16 && d != DType::f16 && compared <= c.T / 4) return "too few tokens with a clear choice";
  return "";
}

// Inputs: x, w, and the CPU forward (rounded to d) that both devices' backward starts from, gl, gp, gwt.
Ins router_inputs(const RouterCase& c, DType d, uint64_t seed) {
  Tensor x = rand_input({c.T, c.C}, 1000 + seed * 7 + uint64_t(c.T), d);
  Tensor w = rand_input({c.E, c.C}, 1001 + seed * 7 + uint64_t(c.E), d, 0.0, 0.2);
  ops::MoeRouterOutput f = ops::moe_router_topk(cpu_twin(x), cpu_twin(w), c.k, c.temperature, c.renorm);
  return {x,
          w,
          f.probs.to(d),
          f.top_idx,
          f.top_probs.to(d),
          rand_input({c.T, c.E}, 1002 + seed, d),
          rand_input({c.T, c.E}, 1003 + seed, d),
          rand_input({c.T, c.k}, 1004 + seed, d)};
}

Outs router_run(const RouterCase& c, const Ins& in) {
  ops::MoeRouterOutput f = ops::moe_router_topk(in[0], in[1], c.k, c.temperature, c.renorm);
  Outs o = {{"logits", f.logits},
            {"probs", f.probs},
            {"top_idx (compared where the choice is clear)", f.top_idx, Cmp::NanMask},
            {"weights (compared where the choice is clear)", f.weights, Cmp::NanMask}};
  ops::MoeRouterOutput fwd{Tensor(), in[2], in[3], in[4], Tensor()};
  for (int mask : {7, 4, 3}) {
    auto pick = [mask](int bit, const Tensor& t) { return (mask >> bit) & 1 ? t : Tensor(); };
    ops::MoeRouterGrads g = ops::moe_router_topk_bwd(in[0], in[1], fwd, pick(0, in[5]), pick(1, in[6]), pick(2, in[7]),
                                                     c.temperature, c.renorm);
    o.push_back({"gx mask " + std::to_string(mask), g.gx});
    o.push_back({"gw mask " + std::to_string(mask), g.gw});
  }
  return o;
}

BenchSpec router_bench(bool fused) {
  // The router from tokens [T, 256] and a weight [8, 256]: the fused op (one launch)
  // against linear + softmax + top-k. Bytes: x and the weight read; logits, probs,
  // top-2 indices, probabilities and weights written.
  return {
      fused ? "moe router fused (x W^T, softmax, top-2 of 8)" : "moe router unfused (linear, softmax, topk)",
      {1 << 13, 1 << 16, 1 << 18},
      [fused](Device dev, int64_t T) {
        const int64_t C = 256, E = 8;
        Tensor x = bench_randn({T, C}, 29, dev), w = ops::mul(bench_randn({E, C}, 28, dev), 0.1);
        double bytes = 4.0 * double(T * C + E * C + 2 * T * E) + double(T * 2) * (8 + 4 + 4);
        if (fused)
          return BenchRun{dims({T, C, E}), bytes, 0, [=] { return ops::moe_router_topk(x, w, 2, 1.0, false).weights; }};
        return BenchRun{dims({T, C, E}), bytes, 0,
                        [=] { return ops::topk(ops::softmax(ops::linear(x, w, Tensor()), -1), 2, -1).values; }};
      }};
}

void add_router(std::vector<OpCase>& v) {
  size_t first = v.size();
  // One token; odd sizes; E = 32 with C large enough that the weight needs opt-in shared memory (f32: 72 KiB).
  for (const RouterCase& c : {RouterCase{1, 5, 3, 1, false, 1.0}, RouterCase{37, 29, 8, 2, true, 0.7},
                              RouterCase{300, 130, 17, 4, false, 1.3}, RouterCase{513, 576, 32, 2, true, 1.0},
                              RouterCase{1000, 64, 2, 2, true, 1.0}})
    for (uint64_t seed : {uint64_t(1), uint64_t(2)}) {
      OpCase oc = op_case(
          "moe",
          "moe_router_topk T " + std::to_string(c.T) + " C " + std::to_string(c.C) + " E " + std::to_string(c.E) +
              " k " + std::to_string(c.k) + " seed " + std::to_string(seed),
          {OpKind::MOE_ROUTER_TOPK, OpKind::MOE_ROUTER_TOPK_BWD}, float_dtypes(),
          [c, seed](DType d) { return router_inputs(c, d, seed); },
          [c](const Ins& in, DType, Device) { return router_run(c, in); });
      oc.check = [c](const Outs& got, const Outs& want, DType d) { return check_choices(c, got, want, d); };
      v.push_back(oc);
    }
  v[first].benches = {router_bench(true), router_bench(false)};
  // Distinct scores keep the top k away from ties; every output carries a gradient.
  for (int64_t k : {1, 2})
    for (bool renorm : {false, true})
      for (double temperature : {1.0, 0.7}) {
        auto fn = [k, renorm, temperature](const Vars& x) {
          ag::MoeRouterTopK r = ag::moe_router_topk(x[0], x[1], k, temperature, renorm);
          return ag::concat({ag::reshape(r.logits, {r.logits.numel()}), ag::reshape(r.probs, {r.probs.numel()}),
                             ag::reshape(r.weights, {r.weights.numel()})},
                            0);
        };
        v[first].grads.push_back({[k] {
                                    return Ins{distinct64({7, 5}, 310 + uint64_t(k)), distinct64({4, 5}, 320)};
                                  },
                                  fn,
                                  {}});
      }
  // One token, one expert chosen of three, a transposed x; only the weights used; only the probabilities.
  v[first].grads.push_back({[] {
                              return Ins{distinct64({6, 1}, 330).transpose(0, 1), distinct64({3, 6}, 331)};
                            },
                            [](const Vars& x) { return ag::moe_router_topk(x[0], x[1], 1, 1.0, true).weights; },
                            {}});
  v[first].grads.push_back({[] {
                              return Ins{distinct64({5, 3}, 332).transpose(0, 1), distinct64({4, 5}, 333)};
                            },
                            [](const Vars& x) { return ag::moe_router_topk(x[0], x[1], 2, 1.3, false).probs; },
                            {}});
}

// A NaN token's probabilities are all NaN on both devices, so both pick experts 0..k-1;
// inf and -inf tokens pick the CPU's experts.
void add_router_nan(std::vector<OpCase>& v) {
  for (int64_t E : {int64_t(5), int64_t(32)})
    for (int64_t C : {int64_t(7), int64_t(600)}) {
      const int64_t T = 9, k = 3;
      auto make = [E, C](DType d) {
        Tensor x64 = randn64({T, C}, 77 + uint64_t(E + C));
        double* xp = x64.data<double>();
        xp[2 * C + 1] = std::nan("");
        xp[5 * C] = INFINITY;
        xp[6 * C + C - 1] = -INFINITY;
        return Ins{x64.to(d), rand_input({E, C}, 78, d, 0.0, 0.2)};
      };
      auto run = [](const Ins& in, DType, Device) {
        ops::MoeRouterOutput f = ops::moe_router_topk(in[0], in[1], k, 1.0, true);
        return Outs{{"top_idx", f.top_idx, Cmp::Exact}, {"probs", f.probs, Cmp::NanMask}};
      };
      OpCase oc =
          op_case("moe", "moe_router_topk NaN and inf tokens E " + std::to_string(E) + " C " + std::to_string(C),
                  {OpKind::MOE_ROUTER_TOPK}, {DType::f32, DType::f64, DType::bf16}, make, run);
      oc.check = [](const Outs& got, const Outs&, DType) -> std::string {
        std::vector<double> idx = got[0].t.to_vector();
        for (int64_t j = 0; j < k; ++j)
          if (idx[size_t(2 * k + j)] != double(j)) return "the NaN token did not pick experts 0..k-1";
        return "";
      };
      v.push_back(oc);
    }
}

}  // namespace

void add_moe_cases(std::vector<OpCase>& v) {
  add_route(v);
  add_gemm(v);
  add_router(v);
  add_router_nan(v);
}

}  // namespace engine::opcases
