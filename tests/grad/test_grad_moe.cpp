// Gradient checks of the mixture-of-experts layer as a whole (router, dispatch, experts, combine and aux losses) for
// both routers, k = 1 and 2, with and without dropping, with an expert that receives no token. The grouped GEMM's and
// the fused router's own checks are the op-case table's (opcases/cases_moe.cpp, run by test_grad_opcases.cpp).
#include "engine/core/generator.h"
#include "engine/nn/moe/aux_losses.h"
#include "engine/nn/moe/moe_layer.h"
#include "test_util.h"

using namespace engine;
using namespace engine::testing;
namespace moe = engine::nn::moe;

namespace {
using Vars = std::vector<Variable>;

Tensor idx(const std::vector<double>& v, const Shape& shape) { return Tensor::from_vector(v, shape, DType::i64); }

struct LayerCase {
  moe::RouterKind router = moe::RouterKind::Linear;
  int64_t T = 10, C = 5, H = 6, E = 4, k = 1, d = 4;
  bool drop = false, noisy = false, learned_noise = false, renormalize = false;
  moe::DropPriority priority = moe::DropPriority::Probability;
  moe::ExpertActivation act = moe::ExpertActivation::Gelu;
  double capacity_factor = 0.75, temperature = 1.0;
};

moe::MoEOptions options_of(const LayerCase& c) {
  moe::MoEOptions o;
  o.dim = c.C;
  o.hidden = c.H;
  o.num_experts = c.E;
  o.top_k = c.k;
  o.router.kind = c.router;
  o.router.noisy = c.noisy;
  o.router.learned_noise = c.learned_noise;
  o.router.noise_std = 0.7;
  o.router.temperature = c.temperature;
  o.router.renormalize = c.renormalize;
  o.router_dim = c.d;
  o.capacity_factor = c.capacity_factor;
  o.drop_tokens = c.drop;
  o.drop_priority = c.priority;
  o.activation = c.act;
  o.lb_coef = 0.3;
  o.z_coef = 0.2;
  o.importance_coef = 0.1;
  o.dtype = DType::f64;
  return o;
}

// Inputs: x, the router's parameters, then w1, b1, w2, b2. Feature 0 of every token is
// about 3 and the last expert's router score leans against it, so that expert never wins.
std::vector<Tensor> layer_inputs(const LayerCase& c, uint64_t seed) {
  Tensor x = randn64({c.T, c.C}, seed);
  for (int64_t t = 0; t < c.T; ++t) x.select(0, t).select(0, 0).fill_(3.0 + 0.1 * double(t % 3));
  std::vector<Tensor> in{x};
  if (c.router == moe::RouterKind::Linear) {
    Tensor w = randn64({c.E, c.C}, seed + 1, 0.0, 0.5);
    w.select(0, c.E - 1).select(0, 0).fill_(-3.0);
    in.push_back(w);
  } else {
    Tensor q = randn64({c.d, c.C}, seed + 1, 0.0, 0.5);
    q.select(1, 0).fill_(1.0);
    Tensor keys = randn64({c.E, c.d}, seed + 2, 0.0, 0.5);
    keys.select(0, c.E - 1).fill_(-2.0);  // -2 * q's column for feature 0
    in.push_back(q);
    in.push_back(keys);
  }
  if (c.learned_noise) in.push_back(randn64({c.E, c.C}, seed + 3, 0.0, 0.3));
  in.push_back(randn64({c.E, c.C, c.H}, seed + 4, 0.0, 0.5));
  in.push_back(randn64({c.E, c.H}, seed + 5, 0.0, 0.5));
  in.push_back(randn64({c.E, c.H, c.C}, seed + 6, 0.0, 0.5));
  in.push_back(randn64({c.E, c.C}, seed + 7, 0.0, 0.5));
  return in;
}

moe::MoEForward run_layer(const LayerCase& c, const Vars& v) {
  moe::MoEParams p;
  size_t i = 1;
  if (c.router == moe::RouterKind::Linear) {
    p.router.weight = v[i++];
  } else {
    p.router.query = v[i++];
    p.router.keys = v[i++];
  }
  if (c.learned_noise) p.router.noise = v[i++];
  p.w1 = v[i++];
  p.b1 = v[i++];
  p.w2 = v[i++];
  p.b2 = v[i++];
  // The same noise on every evaluation: the generator restarts from one seed.
  if (c.noisy) manual_seed(11);
  // Training mode: the capacity applies (evaluation is dropless); noise only if the case asks.
  return moe::moe_forward(v[0], p, options_of(c), true, Tensor(), 0);
}

void check_layer(const LayerCase& c, uint64_t seed) {
  std::vector<Tensor> in = layer_inputs(c, seed);
  // The premises: the last expert gets no token; dropping drops something.
  Vars v;
  for (const Tensor& t : in) v.emplace_back(t);
  moe::MoEForward f = run_layer(c, v);
  INFO("counts " << Tensor::from_vector(std::vector<double>(f.stats.counts.begin(), f.stats.counts.end()), {c.E}).str()
                 << ", dropped " << f.stats.dropped);
  REQUIRE(f.stats.counts[size_t(c.E - 1)] == 0);
  REQUIRE((f.stats.dropped > 0) == c.drop);
  auto fn = [c](const Vars& vars) {
    moe::MoEForward r = run_layer(c, vars);
    return ag::add(r.y, r.aux_loss);  // the aux losses' gradients are checked with the output's
  };
  CHECK_GRAD(OpKind::MOE_GROUPED_MATMUL, fn, in);
  GradCheckResult r = gradcheck(fn, in);
  CHECK(r.saw(OpKind::INDEX_ADD));
  // A linear router without noise (E <= 32 here) runs as the fused op.
  if (c.router == moe::RouterKind::Linear && !c.noisy) {
    CHECK(r.saw(OpKind::MOE_ROUTER_TOPK));
    CHECK_FALSE(r.saw(OpKind::TOPK));
  } else {
    CHECK(r.saw(OpKind::TOPK));
    CHECK(r.saw(OpKind::SOFTMAX));
  }
}

}  // namespace

TEST_CASE("grad moe layer, linear router: k = 1 and 2, dropless and dropping", "[grad][moe]") {
  LayerCase c;
  for (int64_t k : {1, 2})
    for (bool drop : {false, true}) {
      c.k = k;
      c.drop = drop;
      c.T = k == 1 ? 10 : 8;
      c.renormalize = k == 2;
      INFO("k " << k << " drop " << drop);
      check_layer(c, 400 + uint64_t(k * 10 + drop));
    }
}

TEST_CASE("grad moe layer, attentive router: k = 1 and 2, dropless and dropping", "[grad][moe]") {
  LayerCase c;
  c.router = moe::RouterKind::Attentive;
  for (int64_t k : {1, 2})
    for (bool drop : {false, true}) {
      c.k = k;
      c.drop = drop;
      c.T = k == 1 ? 10 : 8;
      INFO("k " << k << " drop " << drop);
      check_layer(c, 500 + uint64_t(k * 10 + drop));
    }
}

TEST_CASE("grad moe layer: token-order priority, ReLU experts, temperature", "[grad][moe]") {
  LayerCase c;
  c.k = 2;
  c.T = 8;
  c.drop = true;
  c.priority = moe::DropPriority::Order;
  c.act = moe::ExpertActivation::Relu;
  c.temperature = 0.5;
  check_layer(c, 600);
}

TEST_CASE("grad moe layer: noisy gating with fixed and learned noise (seeded)", "[grad][moe]") {
  LayerCase c;
  c.noisy = true;
  c.k = 2;
  c.T = 8;
  check_layer(c, 700);
  c.learned_noise = true;
  c.drop = true;
  check_layer(c, 710);
  c.router = moe::RouterKind::Attentive;
  check_layer(c, 720);
}

TEST_CASE("grad moe aux losses and softplus (including softplus at 0)", "[grad][moe]") {
  Tensor counts = idx({3, 0, 5}, {3});
  CHECK_GRAD(OpKind::SOFTMAX, [counts](const Vars& v) { return moe::load_balance_loss(ag::softmax(v[0], 1), counts); },
             {randn64({4, 3}, 801)});
  CHECK_GRAD(OpKind::EXP, [](const Vars& v) { return moe::router_z_loss(v[0]); }, {randn64({5, 3}, 802, 0.0, 3.0)});
  CHECK_GRAD(OpKind::VAR, [](const Vars& v) { return moe::importance_loss(v[0]); }, {uniform64({6, 3}, 803, 0.1, 1.0)});
  Tensor z = Tensor::from_vector({0.0, -3.0, 2.0, 40.0, -40.0, 0.5}, {6}, DType::f64);
  CHECK_GRAD(OpKind::LOG, [](const Vars& v) { return moe::softplus(v[0]); }, {z});
}
