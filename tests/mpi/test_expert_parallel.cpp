// Expert parallel MoE on 2 ranks (engine/nn/moe/expert_parallel.h) against the
// single-process layer on all ranks' tokens with all experts (f64): the output of each
// rank's tokens, the aux losses and statistics of all tokens, and the gradients (of the
// output and the aux losses) of its tokens, of its experts and, summed over the ranks,
// of the router; with capacity drops and an expert that no token chooses. Evaluation
// passes (every rank the same tokens, split unevenly or not at all) give every rank the
// single-process output. A data parallel layer's training pass has the aux losses and
// statistics of all ranks' tokens.
#include <catch2/catch.hpp>
#include <cmath>
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

// A pass's aux losses and statistics against the single-process ones of all tokens.
void check_same_losses_and_stats(const MoEForward& got, const MoEForward& want) {
  CHECK(std::fabs(got.lb_loss.item() - want.lb_loss.item()) < 1e-10);
  CHECK(std::fabs(got.z_loss.item() - want.z_loss.item()) < 1e-10);
  CHECK(std::fabs(got.importance_loss.item() - want.importance_loss.item()) < 1e-10);
  CHECK(std::fabs(got.aux_loss.item() - want.aux_loss.item()) < 1e-10);
  const MoEStats &a = got.stats, &b = want.stats;
  CHECK(a.tokens == b.tokens);
  CHECK(a.slots == b.slots);
  CHECK(a.dropped == b.dropped);
  CHECK(a.counts == b.counts);
  CHECK(a.kept_counts == b.kept_counts);
  CHECK(a.expert_class == b.expert_class);
  CHECK(std::fabs(a.entropy_sum - b.entropy_sum) < 1e-10);
  CHECK(std::fabs(a.top1_sum - b.top1_sum) < 1e-10);
  CHECK(std::fabs(a.lb_sum - b.lb_sum) < 1e-10);
  CHECK(std::fabs(a.z_sum - b.z_sum) < 1e-10);
  CHECK(std::fabs(a.importance_sum - b.importance_sum) < 1e-10);
}

MoEOptions small_options(int64_t E, bool drop) {
  MoEOptions o;
  o.dim = 3;
  o.hidden = 5;
  o.num_experts = E;
  o.top_k = 2;
  o.drop_tokens = drop;
  o.capacity_factor = 0.6;  // fewer slots than the tokens want: some are dropped
  o.activation = ExpertActivation::Gelu;
  o.dtype = DType::f64;
  o.lb_coef = 0.3;
  o.z_coef = 0.05;
  o.importance_coef = 0.2;
  return o;
}

// Token labels 0, 1, 2, 0, 1, ... for rows [lo, hi) of the tokens.
Tensor labels(int64_t lo, int64_t hi) {
  std::vector<int64_t> v;
  for (int64_t t = lo; t < hi; ++t) v.push_back(t % 3);
  return v.empty() ? Tensor::empty({0}, DType::i64) : Tensor::from_data(v.data(), {hi - lo});
}

// The objective whose gradients the ranks' together equal: sum(y * seed) + aux. Over n
// ranks each rank adds its own aux loss, so the single-process one counts n times.
Variable objective(const MoEForward& f, const Tensor& seed, double aux_times) {
  return ag::add(ag::sum(ag::mul(f.y, Variable(seed))), ag::mul(f.aux_loss, aux_times));
}

// The comparison on `device`, the tokens exchanged by `comm`.
void check_expert_parallel(dist::Communicator& comm, Device device, bool drop) {
  auto leaf = [&](const Tensor& t) { return Variable(t.contiguous().to(device).clone(), true); };
  const int n = comm.size(), r = comm.rank();
  const int64_t T = 6, C = 3, H = 5, E = 2 * n, el = E / n;
  MoEOptions o = small_options(E, drop);
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
  MoEForward ref = moe_forward(xf, full, o, true, labels(0, T * n), 3);
  objective(ref, seed, double(n)).backward();
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
  MoEForward ep = moe_forward_expert_parallel(comm, xl, local, o, true, labels(r * T, (r + 1) * T), 3);
  const Variable& y = ep.y;
  objective(ep, mine(seed).contiguous().to(device), 1.0).backward();
  CHECK(y.device() == device);
  check_same_losses_and_stats(ep, ref);

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

// Evaluation: every rank passes the same T tokens (T < ranks leaves a rank none) and
// gets the single-process output of all of them, with evaluation capacity drops.
void check_evaluation(dist::Communicator& comm, int64_t T) {
  const int n = comm.size(), r = comm.rank();
  const int64_t E = 2 * n, el = E / n;
  MoEOptions o = small_options(E, false);
  o.eval_capacity_factor = 0.6;
  Tensor x = ops::add(ops::mul(ops::randn({T, 3}, 9, 0, DType::f64), 0.1), 1.0);
  Tensor router = ops::randn({E, 3}, 9, 100, DType::f64);
  Tensor w1 = ops::randn({E, 3, 5}, 9, 200, DType::f64), b1 = ops::randn({E, 5}, 9, 300, DType::f64);
  Tensor w2 = ops::randn({E, 5, 3}, 9, 400, DType::f64), b2 = ops::randn({E, 3}, 9, 500, DType::f64);
  MoEParams full, local;
  full.router.weight = local.router.weight = Variable(router);
  full.w1 = Variable(w1), full.b1 = Variable(b1), full.w2 = Variable(w2), full.b2 = Variable(b2);
  auto mine = [&](const Tensor& t) { return Variable(t.slice(0, r * el, (r + 1) * el).contiguous()); };
  local.w1 = mine(w1), local.b1 = mine(b1), local.w2 = mine(w2), local.b2 = mine(b2);
  MoEForward ref = moe_forward(Variable(x), full, o, false, labels(0, T), 3);
  MoEForward ep = moe_forward_expert_parallel(comm, Variable(x), local, o, false, labels(0, T), 3);
  INFO("T = " << T);
  CHECK(max_abs_diff(ep.y.data(), ref.y.data()) < 1e-10);
  CHECK(max_abs_diff(ep.probs.data(), ref.probs.data()) < 1e-10);
  CHECK(max_abs_diff(ep.experts.to(DType::f64), ref.experts.to(DType::f64)) == 0);
  check_same_losses_and_stats(ep, ref);
}

}  // namespace

TEST_CASE("mpi: expert parallel MoE evaluation gives every rank the single-process output (f64)") {
  for (int64_t T : {7, 12, 1}) check_evaluation(dist::world(), T);
}

// Data parallel (every rank all experts, its own tokens and capacity): the dropless
// pass's aux losses and statistics are those of all tokens, and the ranks' gradients
// (of their output and aux losses) average to the single-process ones.
TEST_CASE("mpi: a data parallel MoE layer's training pass has the aux losses and statistics of all tokens (f64)") {
  dist::Communicator& comm = dist::world();
  const int n = comm.size(), r = comm.rank();
  const int64_t T = 6, E = 4;
  MoEOptions o = small_options(E, false);
  Tensor x_all = ops::add(ops::mul(ops::randn({T * n, 3}, 11, 0, DType::f64), 0.1), 1.0);
  Tensor router = ops::randn({E, 3}, 11, 100, DType::f64);
  Tensor w1 = ops::randn({E, 3, 5}, 11, 200, DType::f64), b1 = ops::randn({E, 5}, 11, 300, DType::f64);
  Tensor w2 = ops::randn({E, 5, 3}, 11, 400, DType::f64), b2 = ops::randn({E, 3}, 11, 500, DType::f64);
  Tensor seed = ops::randn({T * n, 3}, 11, 600, DType::f64);
  auto params = [&] {
    MoEParams p;
    p.router.weight = Variable(router.clone(), true);
    p.w1 = Variable(w1.clone(), true), p.b1 = Variable(b1.clone(), true);
    p.w2 = Variable(w2.clone(), true), p.b2 = Variable(b2.clone(), true);
    return p;
  };
  MoEParams full = params(), mine = params();
  MoEForward ref = moe_forward(Variable(x_all), full, o, true, labels(0, T * n), 3);
  objective(ref, seed, double(n)).backward();
  MoEDist d;
  d.comm = &comm;
  MoEForward dp = moe_forward(Variable(x_all.slice(0, r * T, (r + 1) * T).contiguous()), mine, o, true,
                              labels(r * T, (r + 1) * T), 3, d);
  objective(dp, seed.slice(0, r * T, (r + 1) * T).contiguous(), 1.0).backward();
  check_same_losses_and_stats(dp, ref);
  for (Variable* g : {&mine.router.weight, &mine.w1, &mine.b1, &mine.w2, &mine.b2}) {
    Tensor sum = g->grad().clone();
    comm.all_reduce_sum(sum);
    const Variable& want = g == &mine.router.weight ? full.router.weight
                           : g == &mine.w1          ? full.w1
                           : g == &mine.b1          ? full.b1
                           : g == &mine.w2          ? full.w2
                                                    : full.b2;
    CHECK(max_abs_diff(sum, want.grad()) < 1e-10);
  }
}

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
