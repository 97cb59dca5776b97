// CUDA parity: mixture-of-experts routing (bit for bit: rows, offsets, counts, dropped
// slots) with and without dropping, without a priority and with f32/f64 priorities
// (ties and NaN included), and the grouped GEMMs forward, backward-data and
// backward-weight over buffers with an empty expert and rows past offsets[E].
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>

#include "cuda_parity.h"

using namespace engine;
using namespace engine::testing;

namespace {

// k distinct experts per token out of E, never `skip` (an expert left without rows),
// half the tokens taking the lowest experts in order so that some experts overflow.
Tensor route_choices(int64_t T, int64_t k, int64_t E, int64_t skip, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> idx;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int64_t> perm;
    for (int64_t e = 0; e < E; ++e)
      if (e != skip) perm.push_back(e);
    std::shuffle(perm.begin(), perm.end(), rng);
    if (rng() % 2) std::sort(perm.begin(), perm.end());
    for (int64_t j = 0; j < k; ++j) idx.push_back(perm[size_t(j)]);
  }
  return i64_tensor(idx, {T, k});
}

// Priorities on a coarse grid (many ties), with a NaN and an -inf among them.
Tensor route_priority(int64_t T, int64_t k, DType d, uint64_t seed) {
  std::vector<double> v = uniform64({T, k}, seed, 0.0, 1.0).to_vector();
  for (double& x : v) x = std::floor(x * 4.0) / 4.0;
  v[1 % v.size()] = std::numeric_limits<double>::quiet_NaN();
  v[v.size() / 2] = -std::numeric_limits<double>::infinity();
  return Tensor::from_vector(v, {T, k}, d);
}

void check_route(const Tensor& idx, const Tensor& prio, int64_t E, int64_t capacity, const std::string& what) {
  ops::MoeRouteOutput want = ops::moe_route(idx, prio, E, capacity);
  ops::MoeRouteOutput got = ops::moe_route(on_gpu(idx), prio.defined() ? on_gpu(prio) : Tensor(), E, capacity);
  INFO(what);
  CHECK(got.kept == want.kept);
  CHECK(got.dropped == want.dropped);
  check_exact(got.counts, want.counts, what + " counts");
  check_exact(got.offsets, want.offsets, what + " offsets");
  check_exact(got.row_token, want.row_token, what + " row_token");
  check_exact(got.row_slot, want.row_slot, what + " row_slot");
  check_exact(got.row_expert, want.row_expert, what + " row_expert");
  check_exact(got.dropped_slots, want.dropped_slots, what + " dropped_slots");
}

// Offsets [E + 1] from the rows per expert.
Tensor offsets_of(const std::vector<int64_t>& rows) {
  std::vector<int64_t> off(1, 0);
  for (int64_t n : rows) off.push_back(off.back() + n);
  return i64_tensor(off, {int64_t(off.size())});
}

}  // namespace

TEST_CASE("cuda moe_route matches the CPU: dropless and dropping, k = 1 and 2, both priorities", "[cuda]") {
  begin_cuda_test();
  const int64_t E = 5, empty_expert = 3;
  // 600 slots span several chunks of the placement block.
  for (int64_t T : {int64_t(1), int64_t(37), int64_t(300)})
    for (int64_t k : {int64_t(1), int64_t(2)}) {
      Tensor idx = route_choices(T, k, E, empty_expert, uint64_t(70 + T + k));
      for (int64_t capacity : {int64_t(-1), int64_t(0), int64_t(3), ops::moe_capacity(1.0, T, k, E), T * k}) {
        std::string what = "T " + std::to_string(T) + " k " + std::to_string(k) + " capacity " +
                           std::to_string(capacity);
        check_route(idx, Tensor(), E, capacity, what + " no priority");
        for (DType d : {DType::f32, DType::f64})
          check_route(idx, route_priority(T, k, d, uint64_t(80 + T)), E, capacity,
                      what + " priority " + dtype_name(d));
      }
    }
}

TEST_CASE("cuda moe_route: every slot on one expert, and a single expert", "[cuda]") {
  begin_cuda_test();
  Tensor same = i64_tensor(std::vector<int64_t>(41, 2), {41, 1});
  for (int64_t capacity : {int64_t(-1), int64_t(5)}) {
    check_route(same, Tensor(), 4, capacity, "one expert chosen, capacity " + std::to_string(capacity));
    check_route(same, route_priority(41, 1, DType::f32, 90), 4, capacity,
                "one expert chosen with priority, capacity " + std::to_string(capacity));
  }
  Tensor only = i64_tensor(std::vector<int64_t>(9, 0), {9, 1});
  check_route(only, Tensor(), 1, 4, "a single expert");
}

TEST_CASE("cuda moe_route reports an expert index out of range", "[cuda]") {
  begin_cuda_test();
  Tensor idx = on_gpu(i64_tensor({0, 1, 7, 2}, {4, 1}));
  std::string msg;
  try {
    ops::moe_route(idx, Tensor(), 3, -1);
    runtime::cuda_synchronize(0);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO("message: " << msg);
  CHECK(msg.find("index 7") != std::string::npos);
  CHECK(msg.find("[0, 3)") != std::string::npos);
  runtime::cuda_synchronize(0);
}

TEST_CASE("cuda moe_grouped_matmul forward and backward match the CPU, with an empty expert and a tail", "[cuda]") {
  begin_cuda_test();
  struct Case {
    std::vector<int64_t> rows;  // per expert
    int64_t tail, Cin, Cout;
  };
  // Odd sizes; several row, column and K tiles in the second; a single row in the third.
  const std::vector<Case> cases = {{{5, 0, 17, 1}, 3, 13, 7}, {{40, 33, 0}, 0, 37, 29}, {{1}, 2, 1, 3}};
  for (DType d : float_dtypes())
    for (const Case& c : cases) {
      const int64_t E = int64_t(c.rows.size());
      const int64_t R = std::accumulate(c.rows.begin(), c.rows.end(), int64_t(0)) + c.tail;
      Tensor off = offsets_of(c.rows);
      Tensor x = rand_input({R, c.Cin}, 100 + R, d), w = rand_input({E, c.Cin, c.Cout}, 101 + R, d);
      Tensor gy = rand_input({R, c.Cout}, 102 + R, d);
      std::string what = "E " + std::to_string(E) + " R " + std::to_string(R) + " Cin " + std::to_string(c.Cin) +
                         " Cout " + std::to_string(c.Cout);
      check_parity(ops::moe_grouped_matmul(on_gpu(x), on_gpu(w), on_gpu(off)),
                   ops::moe_grouped_matmul(cpu_twin(x), cpu_twin(w), off), d, "moe_grouped_matmul " + what);
      check_parity(ops::moe_grouped_matmul_bwd_data(on_gpu(gy), on_gpu(w), on_gpu(off)),
                   ops::moe_grouped_matmul_bwd_data(cpu_twin(gy), cpu_twin(w), off), d,
                   "moe_grouped_matmul_bwd_data " + what);
      check_parity(ops::moe_grouped_matmul_bwd_weight(on_gpu(x), on_gpu(gy), on_gpu(off), E),
                   ops::moe_grouped_matmul_bwd_weight(cpu_twin(x), cpu_twin(gy), off, E), d,
                   "moe_grouped_matmul_bwd_weight " + what);
    }
}

TEST_CASE("cuda moe_grouped_matmul writes exact zeros past offsets[E] and for an empty expert's gradient",
          "[cuda]") {
  begin_cuda_test();
  Tensor off = offsets_of({2, 0, 3});
  Tensor x = rand_input({8, 4}, 110, DType::f32), w = rand_input({3, 4, 6}, 111, DType::f32);
  Tensor gy = rand_input({8, 6}, 112, DType::f32);
  Tensor y = ops::moe_grouped_matmul(on_gpu(x), on_gpu(w), on_gpu(off)).to(Device::cpu());
  Tensor gx = ops::moe_grouped_matmul_bwd_data(on_gpu(gy), on_gpu(w), on_gpu(off)).to(Device::cpu());
  Tensor gw = ops::moe_grouped_matmul_bwd_weight(on_gpu(x), on_gpu(gy), on_gpu(off), 3).to(Device::cpu());
  CHECK(y.slice(0, 5, 8).to_vector() == std::vector<double>(18, 0.0));
  CHECK(gx.slice(0, 5, 8).to_vector() == std::vector<double>(12, 0.0));
  CHECK(gw.select(0, 1).contiguous().to_vector() == std::vector<double>(24, 0.0));
}

TEST_CASE("cuda moe_grouped_matmul reports offsets past the buffer", "[cuda]") {
  begin_cuda_test();
  Tensor x = on_gpu(rand_input({4, 3}, 120, DType::f32)), w = on_gpu(rand_input({2, 3, 2}, 121, DType::f32));
  Tensor off = on_gpu(i64_tensor({0, 2, 9}, {3}));
  // The tiled kernels report on the device; the cuBLAS path checks the offsets it reads back.
  for (const char* impl : {"tiled", "cublas"}) {
    setenv("ENGINE_MOE_GEMM", impl, 1);
    std::string msg;
    try {
      Tensor y = ops::moe_grouped_matmul(x, w, off);
      runtime::cuda_synchronize(0);
    } catch (const Error& e) {
      msg = e.what();
    }
    unsetenv("ENGINE_MOE_GEMM");
    INFO(impl << " message: " << msg);
    CHECK(msg.find(std::string(impl) == "tiled" ? "index 9" : "offsets[2] = 9") != std::string::npos);
  }
  runtime::cuda_synchronize(0);
}
