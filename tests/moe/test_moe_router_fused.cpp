// The fused linear router (MOE_ROUTER_TOPK): the op against naive loops and against
// the op-by-op router (linear, softmax, topk, renormalisation), and the whole MoE layer
// with the fused router against the unfused one (outputs, aux losses, every gradient).
#include <algorithm>
#include <cmath>

#include "engine/core/generator.h"
#include "engine/nn/moe/moe_layer.h"
#include "test_util.h"

using namespace engine;
using namespace engine::testing;
namespace moe = engine::nn::moe;

namespace {

void check_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  REQUIRE(got.shape() == want.shape());
  double e = normalized_error(got, want);
  INFO(what << ": normalised error " << e);
  CHECK(e <= tol);
}

}  // namespace

TEST_CASE("moe_router_topk matches naive loops (f64 and f32)", "[moe]") {
  const int64_t T = 9, C = 7, E = 5;
  for (DType d : {DType::f64, DType::f32})
    for (int64_t k : {1, 3})
      for (bool renorm : {false, true}) {
        const double temp = 0.8;
        Tensor x = distinct64({T, C}, 11).to(d), w = distinct64({E, C}, 12).to(d);
        ops::MoeRouterOutput r = ops::moe_router_topk(x, w, k, temp, renorm);
        std::vector<double> xv = x.to_vector(), wv = w.to_vector();
        std::vector<double> z(static_cast<size_t>(T * E)), p(z.size());
        for (int64_t t = 0; t < T; ++t) {
          double mx = -INFINITY, sum = 0;
          for (int64_t e = 0; e < E; ++e) {
            double acc = 0;
            for (int64_t c = 0; c < C; ++c) acc += xv[size_t(t * C + c)] * wv[size_t(e * C + c)];
            z[size_t(t * E + e)] = acc / temp;
            mx = std::max(mx, acc / temp);
          }
          for (int64_t e = 0; e < E; ++e) sum += std::exp(z[size_t(t * E + e)] - mx);
          for (int64_t e = 0; e < E; ++e) p[size_t(t * E + e)] = std::exp(z[size_t(t * E + e)] - mx) / sum;
        }
        const double tol = d == DType::f64 ? 1e-12 : 1e-5;
        INFO("dtype " << dtype_name(d) << " k " << k << " renorm " << renorm);
        check_close(r.logits, Tensor::from_vector(z, {T, E}, d), tol, "logits");
        check_close(r.probs, Tensor::from_vector(p, {T, E}, d), tol, "probs");
        std::vector<int64_t> idx = r.top_idx.to_vector_as<int64_t>();
        std::vector<double> top = r.top_probs.to_vector(), wts = r.weights.to_vector();
        for (int64_t t = 0; t < T; ++t) {
          std::vector<int64_t> order(static_cast<size_t>(E));
          for (int64_t e = 0; e < E; ++e) order[size_t(e)] = e;
          std::stable_sort(order.begin(), order.end(),
                           [&](int64_t a, int64_t b) { return p[size_t(t * E + a)] > p[size_t(t * E + b)]; });
          double sum = 0;
          for (int64_t j = 0; j < k; ++j) sum += p[size_t(t * E + order[size_t(j)])];
          for (int64_t j = 0; j < k; ++j) {
            const size_t s = size_t(t * k + j);
            const double pj = p[size_t(t * E + order[size_t(j)])];
            CHECK(idx[s] == order[size_t(j)]);
            CHECK(std::abs(top[s] - pj) <= tol);
            CHECK(std::abs(wts[s] - (renorm ? pj / sum : pj)) <= tol);
          }
        }
      }
}

TEST_CASE("moe_router_topk: ties go to the lower expert, zero tokens, bad arguments", "[moe]") {
  // Zero weights: every probability is 1/E, the top 2 are experts 0 and 1.
  Tensor x = randn64({3, 4}, 21), w = Tensor::zeros({4, 4}, DType::f64);
  ops::MoeRouterOutput r = ops::moe_router_topk(x, w, 2, 1.0, false);
  CHECK(r.top_idx.to_vector_as<int64_t>() == std::vector<int64_t>({0, 1, 0, 1, 0, 1}));
  CHECK(r.weights.to_vector() == std::vector<double>(6, 0.25));
  ops::MoeRouterOutput empty = ops::moe_router_topk(Tensor::zeros({0, 4}, DType::f64), w, 1, 1.0, false);
  CHECK(empty.probs.shape() == Shape({0, 4}));
  CHECK_THROWS_WITH(ops::moe_router_topk(x, w, 5, 1.0, false), Catch::Contains("k = 5 of 4 experts"));
  CHECK_THROWS_WITH(ops::moe_router_topk(x, randn64({4, 3}, 22), 1, 1.0, false),
                    Catch::Contains("expected x [T, C] and w [E, C]"));
  CHECK_THROWS_WITH(ops::moe_router_topk(x, w, 1, 0.0, false), Catch::Contains("temperature"));
}

TEST_CASE("moe layer: the fused router gives the unfused outputs and gradients", "[moe]") {
  struct Case {
    int64_t k;
    bool renorm, drop;
    double temperature;
  };
  for (const Case& c :
       {Case{1, false, false, 1.0}, Case{2, true, true, 0.6}, Case{2, false, false, 1.5}, Case{3, true, true, 1.0}}) {
    INFO("k " << c.k << " renorm " << c.renorm << " drop " << c.drop << " temperature " << c.temperature);
    moe::MoEOptions o;
    o.dim = 6;
    o.hidden = 5;
    o.num_experts = 5;
    o.top_k = c.k;
    o.router.renormalize = c.renorm;
    o.router.temperature = c.temperature;
    o.drop_tokens = c.drop;
    o.capacity_factor = 0.8;
    o.lb_coef = 0.3;
    o.z_coef = 0.2;
    o.importance_coef = 0.1;
    o.dtype = DType::f64;
    manual_seed(31);
    moe::MoELayer layer(o);
    Tensor xt = randn64({13, 6}, 32);
    auto run = [&](bool fused) {
      moe::MoEOptions oo = o;
      oo.router.fused = fused;
      for (auto& [name, prm] : layer.named_parameters()) prm.zero_grad();
      Variable x(xt.clone(), true);
      moe::MoEForward f = moe::moe_forward(x, layer.params, oo, true);
      ag::add(ag::sum(ag::mul(f.y, f.y)), f.aux_loss).backward();
      std::vector<Tensor> out{f.y.data(), f.aux_loss.data(), f.z_loss.data(), x.grad()};
      for (auto& [name, prm] : layer.named_parameters()) out.push_back(prm.grad());
      return std::make_pair(out, f.stats);
    };
    auto [fused, fused_stats] = run(true);
    auto [plain, plain_stats] = run(false);
    CHECK(fused_stats.counts == plain_stats.counts);
    CHECK(fused_stats.dropped == plain_stats.dropped);
    CHECK(std::abs(fused_stats.entropy_sum - plain_stats.entropy_sum) <= 1e-12);
    REQUIRE(fused.size() == plain.size());
    for (size_t i = 0; i < fused.size(); ++i) check_close(fused[i], plain[i], 1e-12, "output " + std::to_string(i));
  }
}
