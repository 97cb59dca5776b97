// CUDA parity of the MoE fast paths: the fused router (forward and backward) against
// its CPU twin, and the CUB sorting route (ENGINE_MOE_ROUTE=sort) bit for bit against
// the CPU routing, with dropping by priority and by order, an empty expert and odd T.
#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>

#include "cuda_parity.h"

using namespace engine;
using namespace engine::testing;

namespace {

// Sets an environment variable for one scope.
class EnvScope {
 public:
  EnvScope(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~EnvScope() { unsetenv(name_); }
  EnvScope(const EnvScope&) = delete;
  EnvScope& operator=(const EnvScope&) = delete;

 private:
  const char* name_;
};

// k distinct experts per token, never `skip`; a third of the tokens take the lowest
// experts in order so that those overflow.
Tensor choices(int64_t T, int64_t k, int64_t E, int64_t skip, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> idx;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int64_t> perm;
    for (int64_t e = 0; e < E; ++e)
      if (e != skip) perm.push_back(e);
    std::shuffle(perm.begin(), perm.end(), rng);
    if (rng() % 3 == 0) std::sort(perm.begin(), perm.end());
    for (int64_t j = 0; j < k; ++j) idx.push_back(perm[size_t(j)]);
  }
  return i64_tensor(idx, {T, k});
}

// Priorities on a coarse grid (ties), a NaN, an -inf, a -0 and a +0.
Tensor priorities(int64_t T, int64_t k, DType d, uint64_t seed) {
  std::vector<double> v = uniform64({T, k}, seed, 0.0, 1.0).to_vector();
  for (double& x : v) x = std::floor(x * 8.0) / 8.0;
  const size_t n = v.size();
  v[1 % n] = std::numeric_limits<double>::quiet_NaN();
  v[n / 2] = -std::numeric_limits<double>::infinity();
  v[n / 3] = -0.0;
  v[(2 * n) / 3] = 0.0;
  return Tensor::from_vector(v, {T, k}, d);
}

void check_route(const Tensor& idx, const Tensor& prio, int64_t E, int64_t capacity, const std::string& what) {
  ops::MoeRouteOutput want = ops::moe_route(idx, prio, E, capacity);
  ops::MoeRouteOutput got = ops::moe_route(on_gpu(idx), prio.defined() ? on_gpu(prio) : Tensor(), E, capacity);
  INFO(what);
  CHECK(got.kept == want.kept);
  check_exact(got.counts, want.counts, what + " counts");
  check_exact(got.offsets, want.offsets, what + " offsets");
  check_exact(got.row_token, want.row_token, what + " row_token");
  check_exact(got.row_slot, want.row_slot, what + " row_slot");
  check_exact(got.row_expert, want.row_expert, what + " row_expert");
  check_exact(got.dropped_slots, want.dropped_slots, what + " dropped_slots");
}

void route_sweep(const char* impl) {
  EnvScope env("ENGINE_MOE_ROUTE", impl);
  struct Case {
    int64_t T, k, E, skip;
  };
  // Odd T; several radix-sort tiles in the last two; E = 1 and E above 16 (5 key bits).
  for (const Case& c : {Case{1, 1, 1, -1}, Case{37, 2, 5, 3}, Case{1001, 2, 7, 0}, Case{4099, 3, 19, 11}}) {
    Tensor idx = choices(c.T, c.k, c.E, c.skip, uint64_t(900 + c.T));
    for (int64_t capacity :
         {int64_t(-1), int64_t(0), int64_t(1), ops::moe_capacity(1.0, c.T, c.k, c.E), c.T * c.k}) {
      std::string what = std::string(impl) + " T " + std::to_string(c.T) + " k " + std::to_string(c.k) + " E " +
                         std::to_string(c.E) + " capacity " + std::to_string(capacity);
      check_route(idx, Tensor(), c.E, capacity, what + " by order");
      for (DType d : {DType::f32, DType::f64})
        check_route(idx, priorities(c.T, c.k, d, uint64_t(910 + c.T)), c.E, capacity,
                    what + " by priority " + dtype_name(d));
    }
  }
}

}  // namespace

TEST_CASE("cuda moe_route, CUB sorting path: bit for bit the CPU routing", "[cuda]") {
  begin_cuda_test();
  route_sweep("sort");
}

TEST_CASE("cuda moe_route, one-block placement and the automatic choice agree with the CPU", "[cuda]") {
  begin_cuda_test();
  route_sweep("place");
  route_sweep("auto");
}

TEST_CASE("cuda moe_route, CUB sorting path: every slot on one expert, and a bad index is reported", "[cuda]") {
  begin_cuda_test();
  EnvScope env("ENGINE_MOE_ROUTE", "sort");
  Tensor same = i64_tensor(std::vector<int64_t>(3001, 2), {3001, 1});
  check_route(same, Tensor(), 4, 100, "one expert chosen");
  check_route(same, priorities(3001, 1, DType::f32, 920), 4, 100, "one expert chosen, priority");
  std::string msg;
  try {
    ops::moe_route(on_gpu(i64_tensor({0, 1, 9, 2}, {4, 1})), Tensor(), 3, -1);
    runtime::cuda_synchronize(0);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO("message: " << msg);
  CHECK(msg.find("index 9") != std::string::npos);
  runtime::cuda_synchronize(0);
}

TEST_CASE("cuda moe_router_topk forward and backward match the CPU", "[cuda]") {
  begin_cuda_test();
  struct Case {
    int64_t T, C, E, k;
    bool renorm;
    double temperature;
  };
  // One token; odd sizes; E = 32 with C large enough that the weight needs opt-in shared memory (f32: 72 KiB).
  const std::vector<Case> cases = {{1, 5, 3, 1, false, 1.0},   {37, 29, 8, 2, true, 0.7},
                                   {300, 130, 17, 4, false, 1.3}, {513, 576, 32, 2, true, 1.0},
                                   {1000, 64, 2, 2, true, 1.0}};
  for (DType d : float_dtypes())
    for (const Case& c : cases)
      for (uint64_t seed : {uint64_t(1), uint64_t(2)}) {
        std::string what = std::string(dtype_name(d)) + " T " + std::to_string(c.T) + " C " + std::to_string(c.C) +
                           " E " + std::to_string(c.E) + " k " + std::to_string(c.k) + " seed " +
                           std::to_string(seed);
        INFO(what);
        Tensor x = rand_input({c.T, c.C}, 1000 + seed * 7 + uint64_t(c.T), d);
        Tensor w = rand_input({c.E, c.C}, 1001 + seed * 7 + uint64_t(c.E), d, 0.0, 0.2);
        ops::MoeRouterOutput want = ops::moe_router_topk(cpu_twin(x), cpu_twin(w), c.k, c.temperature, c.renorm);
        ops::MoeRouterOutput got = ops::moe_router_topk(on_gpu(x), on_gpu(w), c.k, c.temperature, c.renorm);
        check_parity(got.logits, want.logits, d, "logits " + what);
        check_parity(got.probs, want.probs, d, "probs " + what);
        // The chosen experts must agree wherever the CPU's k-th and (k+1)-th
        // probabilities are apart by more than rounding.
        std::vector<double> p = want.probs.to_vector();
        std::vector<int64_t> wi = want.top_idx.to_vector_as<int64_t>(), gi = got.top_idx.to_vector_as<int64_t>();
        std::vector<double> wt = want.weights.to_vector(), gt = got.weights.to_vector();
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
        INFO(compared << " tokens compared, " << differ << " choices differ");
        CHECK(differ == 0);
        CHECK((d == DType::bf16 || d == DType::f16 || compared > c.T / 4));

        // Backward from the CPU forward, so that both sides see the same choices.
        Tensor gl = rand_input({c.T, c.E}, 1002 + seed, d), gp = rand_input({c.T, c.E}, 1003 + seed, d);
        Tensor gwt = rand_input({c.T, c.k}, 1004 + seed, d);
        ops::MoeRouterOutput fwd_gpu{Tensor(), on_gpu(want.probs.to(d)), on_gpu(want.top_idx),
                                     on_gpu(want.top_probs.to(d)), Tensor()};
        ops::MoeRouterOutput fwd_cpu{Tensor(), cpu_twin(want.probs.to(d)), want.top_idx,
                                     cpu_twin(want.top_probs.to(d)), Tensor()};
        for (int mask : {7, 4, 3}) {
          auto pick = [mask](int bit, const Tensor& t) { return (mask >> bit) & 1 ? t : Tensor(); };
          ops::MoeRouterGrads gw_ = ops::moe_router_topk_bwd(on_gpu(x), on_gpu(w), fwd_gpu, pick(0, on_gpu(gl)),
                                                             pick(1, on_gpu(gp)), pick(2, on_gpu(gwt)),
                                                             c.temperature, c.renorm);
          ops::MoeRouterGrads gc = ops::moe_router_topk_bwd(cpu_twin(x), cpu_twin(w), fwd_cpu, pick(0, cpu_twin(gl)),
                                                            pick(1, cpu_twin(gp)), pick(2, cpu_twin(gwt)),
                                                            c.temperature, c.renorm);
          check_parity(gw_.gx, gc.gx, d, "gx mask " + std::to_string(mask) + " " + what);
          check_parity(gw_.gw, gc.gw, d, "gw mask " + std::to_string(mask) + " " + what);
        }
      }
}

TEST_CASE("cuda moe_router_topk: NaN and inf tokens pick the CPU's experts and carry NaN", "[cuda]") {
  begin_cuda_test();
  // A NaN logit once made every lane of the warp argmax keep its own expert, and later
  // rounds chose expert 32 (past E). Now NaN ranks above every number on the GPU, and a
  // NaN token's probabilities are all NaN on both devices, so both pick experts 0..k-1.
  for (DType d : {DType::f32, DType::f64, DType::bf16})
    for (int64_t E : {int64_t(5), int64_t(32)})
      for (int64_t C : {int64_t(7), int64_t(600)}) {
        const int64_t T = 9, k = 3;
        Tensor x64 = randn64({T, C}, 77 + uint64_t(E + C));
        double* xp = x64.data<double>();
        xp[2 * C + 1] = std::nan("");
        xp[5 * C] = INFINITY;
        xp[6 * C + C - 1] = -INFINITY;
        Tensor x = x64.to(d), w = rand_input({E, C}, 78, d, 0.0, 0.2);
        ops::MoeRouterOutput want = ops::moe_router_topk(cpu_twin(x), cpu_twin(w), k, 1.0, true);
        ops::MoeRouterOutput got = ops::moe_router_topk(on_gpu(x), on_gpu(w), k, 1.0, true);
        std::string what = std::string(dtype_name(d)) + " E " + std::to_string(E) + " C " + std::to_string(C);
        check_exact(got.top_idx, want.top_idx, "top_idx " + what);
        std::vector<double> gp = got.probs.to_vector(), wp = want.probs.to_vector();
        for (size_t i = 0; i < wp.size(); ++i) {
          INFO(what << " probs[" << i << "]: cuda " << gp[i] << ", cpu " << wp[i]);
          CHECK(std::isnan(gp[i]) == std::isnan(wp[i]));
        }
        for (int64_t j = 0; j < k; ++j) CHECK(got.top_idx.to_vector_as<int64_t>()[size_t(2 * k + j)] == j);
      }
}

TEST_CASE("cuda moe_grouped_matmul, cuBLAS grouped and tiled paths: forward and backward match the CPU", "[cuda]") {
  begin_cuda_test();
  struct Case {
    std::vector<int64_t> rows;  // per expert
    int64_t tail, Cin, Cout;
  };
  // An empty expert first and in the middle, rows past offsets[E], odd sizes, one row.
  const std::vector<Case> cases = {
      {{0, 5, 0, 17, 1}, 3, 13, 7}, {{40, 33, 0}, 0, 37, 29}, {{1}, 2, 1, 3}, {{129, 0, 64, 250}, 5, 96, 160}};
  for (const char* impl : {"cublas", "tiled"}) {
    EnvScope env("ENGINE_MOE_GEMM", impl);
    for (DType d : float_dtypes())
      for (const Case& c : cases)
        for (uint64_t seed : {uint64_t(0), uint64_t(1)}) {
          const int64_t E = int64_t(c.rows.size());
          std::vector<int64_t> off_v(1, 0);
          for (int64_t n : c.rows) off_v.push_back(off_v.back() + n);
          const int64_t R = off_v.back() + c.tail;
          Tensor off = i64_tensor(off_v, {E + 1});
          Tensor x = rand_input({R, c.Cin}, 1100 + R + seed, d), w = rand_input({E, c.Cin, c.Cout}, 1101 + seed, d);
          Tensor gy = rand_input({R, c.Cout}, 1102 + R + seed, d);
          std::string what = std::string(impl) + " E " + std::to_string(E) + " R " + std::to_string(R) + " Cin " +
                             std::to_string(c.Cin) + " Cout " + std::to_string(c.Cout);
          check_parity(ops::moe_grouped_matmul(on_gpu(x), on_gpu(w), on_gpu(off)),
                       ops::moe_grouped_matmul(cpu_twin(x), cpu_twin(w), off), d, "forward " + what);
          check_parity(ops::moe_grouped_matmul_bwd_data(on_gpu(gy), on_gpu(w), on_gpu(off)),
                       ops::moe_grouped_matmul_bwd_data(cpu_twin(gy), cpu_twin(w), off), d, "backward-data " + what);
          check_parity(ops::moe_grouped_matmul_bwd_weight(on_gpu(x), on_gpu(gy), on_gpu(off), E),
                       ops::moe_grouped_matmul_bwd_weight(cpu_twin(x), cpu_twin(gy), off, E), d,
                       "backward-weight " + what);
        }
  }
}

TEST_CASE("cuda moe_grouped_matmul, cuBLAS path: exact zeros for the tail rows and an empty expert", "[cuda]") {
  begin_cuda_test();
  EnvScope env("ENGINE_MOE_GEMM", "cublas");
  Tensor off = i64_tensor({0, 2, 2, 5}, {4});
  Tensor x = rand_input({8, 4}, 1110, DType::f32), w = rand_input({3, 4, 6}, 1111, DType::f32);
  Tensor gy = rand_input({8, 6}, 1112, DType::f32);
  Tensor y = ops::moe_grouped_matmul(on_gpu(x), on_gpu(w), on_gpu(off)).to(Device::cpu());
  Tensor gx = ops::moe_grouped_matmul_bwd_data(on_gpu(gy), on_gpu(w), on_gpu(off)).to(Device::cpu());
  Tensor gw = ops::moe_grouped_matmul_bwd_weight(on_gpu(x), on_gpu(gy), on_gpu(off), 3).to(Device::cpu());
  CHECK(y.slice(0, 5, 8).to_vector() == std::vector<double>(18, 0.0));
  CHECK(gx.slice(0, 5, 8).to_vector() == std::vector<double>(12, 0.0));
  CHECK(gw.select(0, 1).contiguous().to_vector() == std::vector<double>(24, 0.0));
  CHECK(normalized_error(y.slice(0, 0, 5), ops::moe_grouped_matmul(x, w, off).slice(0, 0, 5)) <= 1e-5);
}
