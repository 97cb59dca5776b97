// Expert parallel MoE on 2 ranks (engine/nn/moe/expert_parallel.h) against the
// single-process layer on all ranks' tokens with all experts (f64): the output of each
// rank's tokens, and the gradients of its tokens, of its experts and, summed over the
// ranks, of the router; with capacity drops and an expert that no token chooses.
#include <catch2/catch.hpp>
#include <memory>

#include "engine/autograd/functions.h"
#include "engine/dist/nccl_communicator.h"
#include "engine/nn/moe/expert_parallel.h"
#include "engine/ops/functional.h"

using namespace engine;
using namespace engine::nn::moe;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return ops::max(ops::maximum(ops::sub(a, b), ops::sub(b, a))).item();
}

// The comparison on `device`, the tokens exchanged by `comm`.
void check_expert_parallel(dist::Communicator& comm, Device device, bool drop) {
  auto leaf = [&](const Tensor& t) { return Variable(t.contiguous().to(device).clone(), true); };
  const int n = comm.size(), r = comm.rank();
  const int64_t T = 6, C = 3, H = 5, E = 2 * n, k = 2, el = E / n;
  MoEOptions o;
  o.dim = C;
  o.hidden = H;
  o.num_experts = E;
  o.top_k = k;
  o.drop_tokens = drop;
  o.capacity_factor = 0.6;  // fewer slots than the tokens want: some are dropped
  o.activation = ExpertActivation::Gelu;
  o.dtype = DType::f64;
  // Positive features and a router row of large negative weights: no token chooses the
  // last expert.
  Tensor x_all = ops::add(ops::mul(ops::randn({T * n, C}, 7, 0, DType::f64), 0.1), 1.0);
  Tensor router = ops::randn({E, C}, 7, 100, DType::f64);
  router.select(0, E - 1).fill_(-10.0);
  Tensor w1 = ops::randn({E, C, H}, 7, 200, DType::f64), b1 = ops::randn({E, H}, 7, 300, DType::f64);
  Tensor w2 = ops::randn({E, H, C}, 7, 400, DType::f64), b2 = ops::randn({E, C}, 7, 500, DType::f64);
  Tensor seed = ops::randn({T * n, C}, 7, 600, DType::f64).to(device);

  // The single-process layer on all tokens.
  MoEParams full;
  full.router.weight = leaf(router);
  full.w1 = leaf(w1), full.b1 = leaf(b1), full.w2 = leaf(w2), full.b2 = leaf(b2);
  Variable xf = leaf(x_all);
  MoEForward ref = moe_forward(xf, full, o, true);
  ref.y.backward(seed);
  REQUIRE(ref.stats.counts[size_t(E - 1)] == 0);  // an expert that receives nothing
  if (drop) REQUIRE(ref.stats.dropped > 0);

  // Expert parallel: my tokens, my experts.
  auto mine = [&](const Tensor& t) { return t.slice(0, r * T, (r + 1) * T).to(Device::cpu()); };
  auto my_experts = [&](const Tensor& t) { return t.slice(0, r * el, (r + 1) * el).to(Device::cpu()); };
  MoEParams local;
  local.router.weight = leaf(router);
  local.w1 = leaf(my_experts(w1)), local.b1 = leaf(my_experts(b1));
  local.w2 = leaf(my_experts(w2)), local.b2 = leaf(my_experts(b2));
  Variable xl = leaf(mine(x_all));
  Variable y = moe_forward_expert_parallel(comm, xl, local, o, true);
  y.backward(mine(seed).contiguous().to(device));
  CHECK(y.device() == device);

  CHECK(max_abs_diff(y.data().to(Device::cpu()), mine(ref.y.data())) < 1e-10);
  CHECK(max_abs_diff(xl.grad().to(Device::cpu()), mine(xf.grad())) < 1e-10);
  CHECK(max_abs_diff(local.w1.grad().to(Device::cpu()), my_experts(full.w1.grad())) < 1e-10);
  CHECK(max_abs_diff(local.b1.grad().to(Device::cpu()), my_experts(full.b1.grad())) < 1e-10);
  CHECK(max_abs_diff(local.w2.grad().to(Device::cpu()), my_experts(full.w2.grad())) < 1e-10);
  CHECK(max_abs_diff(local.b2.grad().to(Device::cpu()), my_experts(full.b2.grad())) < 1e-10);
  Tensor router_grad = local.router.weight.grad().to(Device::cpu()).clone();
  comm.all_reduce_sum(router_grad);
  CHECK(max_abs_diff(router_grad, full.router.weight.grad().to(Device::cpu())) < 1e-10);
}

}  // namespace

TEST_CASE("mpi: expert parallel MoE equals the single-process layer, with drops (f64)") {
  check_expert_parallel(dist::world(), Device::cpu(), true);
}

TEST_CASE("mpi: expert parallel MoE equals the single-process layer, dropless (f64)") {
  check_expert_parallel(dist::world(), Device::cpu(), false);
}

#if ENGINE_HAS_NCCL && ENGINE_CUDA_SIM
TEST_CASE("nccl: expert parallel MoE on the simulated GPU, tokens over the simulated NCCL (f64)") {
  static std::unique_ptr<dist::Communicator> nccl = dist::make_nccl(dist::world(), 0);
  check_expert_parallel(*nccl, Device::cuda(0), true);
}
#endif
