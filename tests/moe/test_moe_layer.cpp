// The mixture-of-experts layer: forward against a naive per-token mixture, combine
// weights, aux losses against hand values, statistics, noise, names and errors.
#include <cmath>

#include "engine/core/generator.h"
#include "engine/nn/layers.h"
#include "engine/nn/moe/aux_losses.h"
#include "engine/nn/moe/moe_layer.h"
#include "test_util.h"

using namespace engine;
using namespace engine::testing;
namespace moe = engine::nn::moe;

namespace {

moe::MoEOptions small_options(int64_t k, bool drop, moe::RouterKind kind) {
  moe::MoEOptions o;
  o.dim = 6;
  o.hidden = 5;
  o.num_experts = 4;
  o.top_k = k;
  o.router.kind = kind;
  o.router.renormalize = k > 1;
  o.router_dim = 3;
  o.drop_tokens = drop;
  o.capacity_factor = 0.6;
  o.activation = moe::ExpertActivation::Gelu;
  o.dtype = DType::f64;
  return o;
}

double gelu(double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }

// y_t = sum over t's kept slots j of w_tj * (gelu(x_t W1[e] + b1[e]) W2[e] + b2[e]).
std::vector<double> naive_mixture(const Tensor& x, const moe::MoEParams& p, const Tensor& experts,
                                  const Tensor& weights, const std::vector<int64_t>& dropped, int64_t H) {
  const int64_t T = x.size(0), C = x.size(1), k = experts.size(1);
  std::vector<double> xv = x.to_vector(), w1 = p.w1.data().to_vector(), b1 = p.b1.data().to_vector(),
                      w2 = p.w2.data().to_vector(), b2 = p.b2.data().to_vector(), wv = weights.to_vector();
  std::vector<int64_t> ev = experts.to_vector_as<int64_t>();
  std::vector<bool> is_dropped(static_cast<size_t>(T * k), false);
  for (int64_t s : dropped) is_dropped[size_t(s)] = true;
  std::vector<double> y(static_cast<size_t>(T * C), 0.0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j) {
      int64_t s = t * k + j, e = ev[size_t(s)];
      if (is_dropped[size_t(s)]) continue;
      std::vector<double> h(static_cast<size_t>(H));
      for (int64_t a = 0; a < H; ++a) {
        double acc = b1[size_t(e * H + a)];
        for (int64_t c = 0; c < C; ++c) acc += xv[size_t(t * C + c)] * w1[size_t((e * C + c) * H + a)];
        h[size_t(a)] = gelu(acc);
      }
      for (int64_t c = 0; c < C; ++c) {
        double acc = b2[size_t(e * C + c)];
        for (int64_t a = 0; a < H; ++a) acc += h[size_t(a)] * w2[size_t((e * H + a) * C + c)];
        y[size_t(t * C + c)] += wv[size_t(s)] * acc;
      }
    }
  return y;
}

}  // namespace

TEST_CASE("moe layer forward equals a naive per-token mixture of expert MLPs", "[moe]") {
  for (auto kind : {moe::RouterKind::Linear, moe::RouterKind::Attentive})
    for (int64_t k : {1, 2})
      for (bool drop : {false, true}) {
        INFO("router " << int(kind) << " k " << k << " drop " << drop);
        manual_seed(uint64_t(k * 2 + drop));
        moe::MoEOptions o = small_options(k, drop, kind);
        moe::MoELayer layer(o);
        Tensor x = randn64({23, 6}, 40 + uint64_t(k));
        // Training mode (no noise configured): dropping applies there.
        moe::MoEForward f = moe::moe_forward(Variable(x), layer.params, layer.options(), true);
        moe::RouterOptions ro = layer.options().router;
        moe::RouterOutput r = moe::route(Variable(x), layer.params.router, ro, false);
        int64_t cap = drop ? ops::moe_capacity(o.capacity_factor, 23, k, 4) : -1;
        ops::MoeRouteOutput d = ops::moe_route(r.experts, r.top_probs, 4, cap);
        CHECK((d.dropped > 0) == drop);
        CHECK(f.stats.dropped == d.dropped);
        std::vector<double> want =
            naive_mixture(x, layer.params, r.experts, r.weights.data(), d.dropped_slots.to_vector_as<int64_t>(), 5);
        CHECK(normalized_error(f.y.data(), Tensor::from_vector(want, {23, 6}, DType::f64)) < 1e-12);
        if (drop && k == 1) {
          // A token whose only slot was dropped gets exactly zero: the residual carries it.
          for (int64_t s : d.dropped_slots.to_vector_as<int64_t>())
            for (double v : f.y.data().select(0, s).to_vector()) CHECK(v == 0.0);
        }
      }
}

TEST_CASE("moe router: combine weights are the top-k probabilities, renormalised to sum 1 if asked", "[moe]") {
  Tensor x = randn64({9, 5}, 3);
  moe::RouterParams p;
  p.weight = Variable(randn64({6, 5}, 4));
  moe::RouterOptions o;
  o.num_experts = 6;
  o.top_k = 3;
  moe::RouterOutput plain = moe::route(Variable(x), p, o, true);
  std::vector<double> probs = plain.probs.data().to_vector(), w = plain.weights.data().to_vector();
  std::vector<int64_t> ex = plain.experts.to_vector_as<int64_t>();
  for (int64_t t = 0; t < 9; ++t) {
    double row = 0;
    for (int64_t e = 0; e < 6; ++e) row += probs[size_t(t * 6 + e)];
    CHECK(row == Approx(1.0).epsilon(1e-12));
    for (int64_t j = 0; j < 3; ++j) {
      CHECK(w[size_t(t * 3 + j)] == probs[size_t(t * 6 + ex[size_t(t * 3 + j)])]);
      if (j > 0) CHECK(w[size_t(t * 3 + j)] <= w[size_t(t * 3 + j - 1)]);
    }
  }
  o.renormalize = true;
  moe::RouterOutput renorm = moe::route(Variable(x), p, o, true);
  std::vector<double> rw = renorm.weights.data().to_vector();
  for (int64_t t = 0; t < 9; ++t)
    CHECK(rw[size_t(t * 3)] + rw[size_t(t * 3 + 1)] + rw[size_t(t * 3 + 2)] == Approx(1.0).epsilon(1e-12));
  CHECK(renorm.top_probs.to_vector() == plain.weights.data().to_vector());
  // Temperature divides the logits.
  o.temperature = 2.0;
  moe::RouterOutput warm = moe::route(Variable(x), p, o, true);
  CHECK(normalized_error(warm.logits.data(), ops::mul(plain.logits.data(), 0.5)) < 1e-15);
}

TEST_CASE("moe aux losses against hand values", "[moe]") {
  Tensor probs = Tensor::from_vector({0.7, 0.3, 0.4, 0.6}, {2, 2}, DType::f64);
  auto counts = [](std::vector<double> c) { return Tensor::from_vector(c, {2}, DType::i64); };
  // E * sum f P: balanced counts give 2 * (0.5 * 0.55 + 0.5 * 0.45) = 1.
  CHECK(moe::load_balance_loss(Variable(probs), counts({1, 1})).item() == Approx(1.0).epsilon(1e-14));
  CHECK(moe::load_balance_loss(Variable(probs), counts({2, 0})).item() == Approx(1.1).epsilon(1e-14));
  CHECK(moe::load_balance_loss(Variable(probs), counts({0, 4})).item() == Approx(0.9).epsilon(1e-14));
  // z-loss: logsumexp per row, squared, averaged; finite for huge logits.
  Tensor logits = Tensor::from_vector({0.0, 0.0, 1000.0, 1000.0}, {2, 2}, DType::f64);
  double l2 = std::log(2.0);
  CHECK(moe::router_z_loss(Variable(logits)).item() ==
        Approx((l2 * l2 + (1000 + l2) * (1000 + l2)) / 2).epsilon(1e-14));
  // Importance CV^2 of the gate sums [0.7, 0.6]: variance 0.0025 over mean^2 0.4225.
  Tensor gates = Tensor::from_vector({0.7, 0.0, 0.0, 0.6}, {2, 2}, DType::f64);
  CHECK(moe::importance_loss(Variable(gates)).item() == Approx(0.0025 / 0.4225).epsilon(1e-9));
  Tensor even = Tensor::from_vector({0.5, 0.0, 0.0, 0.5}, {2, 2}, DType::f64);
  CHECK(moe::importance_loss(Variable(even)).item() == Approx(0.0).margin(1e-15));
  Tensor z = Tensor::from_vector({0.0, 50.0, -50.0}, {3}, DType::f64);
  std::vector<double> sp = moe::softplus(Variable(z)).data().to_vector();
  CHECK(sp[0] == Approx(std::log(2.0)).epsilon(1e-15));
  CHECK(sp[1] == Approx(50.0).epsilon(1e-15));  // no overflow for large z
  CHECK(sp[2] == Approx(0.0).margin(1e-20));
}

TEST_CASE("moe layer statistics: fractions, drops, entropy, top-1 and expert x class counts", "[moe]") {
  manual_seed(5);
  moe::MoEOptions o = small_options(2, true, moe::RouterKind::Linear);
  o.eval_capacity_factor = 0.6;  // capacity-limited evaluation, as training drops
  moe::MoELayer layer(o);
  layer.eval();
  Tensor x = randn64({12, 6}, 50);
  layer.set_labels(Tensor::from_vector({2, 0, 1}, {3}, DType::i64), 3);  // 4 tokens per image
  layer(Variable(x));
  const moe::MoEStats& s = layer.last_stats();
  moe::RouterOutput r = moe::route(Variable(x), layer.params.router, layer.options().router, false);
  std::vector<double> p = r.probs.data().to_vector();
  std::vector<int64_t> ex = r.experts.to_vector_as<int64_t>();
  double entropy = 0, top1 = 0;
  std::vector<int64_t> counts(4, 0), table(12, 0);
  const int64_t labels[3] = {2, 0, 1};
  for (int64_t t = 0; t < 12; ++t) {
    double m = 0;
    for (int64_t e = 0; e < 4; ++e) {
      entropy -= p[size_t(t * 4 + e)] * std::log(p[size_t(t * 4 + e)]);
      m = std::max(m, p[size_t(t * 4 + e)]);
    }
    top1 += m;
    for (int64_t j = 0; j < 2; ++j) {
      ++counts[size_t(ex[size_t(t * 2 + j)])];
      ++table[size_t(ex[size_t(t * 2 + j)] * 3 + labels[t / 4])];
    }
  }
  CHECK(s.tokens == 12);
  CHECK(s.slots == 24);
  CHECK(s.counts == counts);
  CHECK(s.expert_class == table);
  CHECK(s.gate_entropy() == Approx(entropy / 12).epsilon(1e-12));
  CHECK(s.mean_top1() == Approx(top1 / 12).epsilon(1e-12));
  int64_t kept = 0, cap = ops::moe_capacity(0.6, 12, 2, 4);
  for (int64_t e = 0; e < 4; ++e) {
    CHECK(s.kept_counts[size_t(e)] == std::min(counts[size_t(e)], cap));
    kept += s.kept_counts[size_t(e)];
  }
  CHECK(s.dropped == 24 - kept);
  CHECK(s.dropped_fraction() == Approx(double(24 - kept) / 24));
  double maxf = 0, h = 0;
  for (int64_t c : counts) {
    double f = double(c) / 24;
    maxf = std::max(maxf, f);
    if (f > 0) h -= f * std::log(f);
  }
  CHECK(s.max_token_fraction() == Approx(maxf));
  CHECK(s.utilisation() == Approx(std::exp(h) / 4));
  double lb = 0;
  for (int64_t e = 0; e < 4; ++e) {
    double P = 0;
    for (int64_t t = 0; t < 12; ++t) P += p[size_t(t * 4 + e)] / 12;
    lb += 4 * double(counts[size_t(e)]) / 24 * P;
  }
  CHECK(s.lb_loss() == Approx(lb).epsilon(1e-12));
  CHECK(layer.aux_loss().item() == Approx(0.01 * lb).epsilon(1e-12));  // default lb_coef, no z or importance
  // Steps add up.
  moe::MoEStats epoch;
  epoch.add(s);
  epoch.add(s);
  CHECK(epoch.steps == 2);
  CHECK(epoch.slots == 48);
  CHECK(epoch.expert_class[0] == 2 * table[0]);
  CHECK(epoch.max_token_fraction() == Approx(maxf));
  CHECK(epoch.lb_loss() == Approx(s.lb_sum));
  // Labels that do not split evenly are an error.
  layer.set_labels(Tensor::from_vector({0, 1, 2, 0, 1}, {5}, DType::i64), 3);
  CHECK_THROWS_WITH(layer(Variable(x)), Catch::Contains("12 tokens do not split evenly over 5 images"));
}

TEST_CASE("moe noisy gating: noise only in training, drawn from the default generator", "[moe]") {
  manual_seed(9);
  moe::MoEOptions o = small_options(1, false, moe::RouterKind::Linear);
  o.router.noisy = true;
  o.router.noise_std = 0.5;
  moe::MoELayer layer(o);
  Tensor x = randn64({16, 6}, 60);
  moe::RouterOutput clean = moe::route(Variable(x), layer.params.router, layer.options().router, false);
  uint64_t before = default_generator().offset();
  moe::RouterOutput noisy = moe::route(Variable(x), layer.params.router, layer.options().router, true);
  CHECK(default_generator().offset() == before + 2 * 16 * 4);
  Tensor diff = ops::sub(noisy.logits.data(), clean.logits.data());
  // The difference is the N(0, 0.5^2) noise: its spread is near 0.5 and it is never all zero.
  double sd = std::sqrt(ops::mean(ops::mul(diff, diff)).item());
  CHECK(sd > 0.3);
  CHECK(sd < 0.8);
  layer.eval();
  uint64_t at = default_generator().offset();
  Tensor y1 = layer(Variable(x)).data(), y2 = layer(Variable(x)).data();
  CHECK(default_generator().offset() == at);  // evaluation draws nothing
  CHECK(normalized_error(y1, y2) == 0.0);
  // Learned noise registers its weight; softplus(0) = log 2 is the starting scale.
  o.router.learned_noise = true;
  moe::MoELayer learned(o);
  CHECK(learned.params.router.noise.defined());
  CHECK(learned.params.router.noise.data().to_vector() == std::vector<double>(24, 0.0));
}

TEST_CASE("moe layer parameter names, counts and errors", "[moe]") {
  moe::MoEOptions o = small_options(2, false, moe::RouterKind::Linear);
  moe::MoELayer lin(o);
  std::vector<std::string> names;
  for (auto& [n, v] : lin.named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"router.weight", "experts.fc1.weight", "experts.fc1.bias",
                                          "experts.fc2.weight", "experts.fc2.bias"});
  CHECK(lin.expert_parameters() == 6 * 5 + 5 + 5 * 6 + 6);
  CHECK(lin.num_parameters() == 4 * 6 + 4 * lin.expert_parameters());
  CHECK(lin.inactive_parameters() == 2 * lin.expert_parameters());
  CHECK(lin.flops_per_token() == 2 * 6 * 4 + 2 * 4 * 6 * 5);
  o.router.kind = moe::RouterKind::Attentive;
  moe::MoELayer att(o);
  names.clear();
  for (auto& [n, v] : att.named_parameters()) names.push_back(n);
  CHECK(names[0] == "router.query");
  CHECK(names[1] == "router.keys");
  CHECK(att.params.router.query.shape() == Shape{3, 6});
  CHECK(att.params.router.keys.shape() == Shape{4, 3});
  CHECK_THROWS_WITH(lin(Variable(randn64({3, 5}, 1))), Catch::Contains("expected tokens [T, 6]"));
  o.top_k = 5;
  CHECK_THROWS_WITH(moe::MoELayer(o), Catch::Contains("top_k 5"));
  // find_moe_layers walks a module tree.
  nn::Sequential seq;
  seq.add(std::make_shared<nn::Linear>(6, 6))
      .add(std::make_shared<moe::MoELayer>(small_options(1, false, moe::RouterKind::Linear)));
  auto found = moe::find_moe_layers(seq);
  REQUIRE(found.size() == 1);
  CHECK(found[0].first == "1");
}
