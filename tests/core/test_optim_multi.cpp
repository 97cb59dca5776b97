// Multi-tensor optimizer steps: one op over a group of parameters gives the same bits as
// the per-tensor ops (SGD in every mode, AdamW), in the ops and through the optimizers,
// with per-tensor weight decay, parameters that miss a step and tensors spanning several
// chunks; the fused sum of squares of gradient clipping against a naive loop.
#include <cmath>

#include "engine/optim/optimizer.h"
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {

// Sizes: empty, tiny, odd, and one above the CPU kernel's chunk and threading thresholds.
const std::vector<Shape> kShapes = {{0}, {1}, {7, 3}, {5}, {331, 307}, {2, 3, 3, 3}};

std::vector<Tensor> rand_group(uint64_t seed, DType d) {
  std::vector<Tensor> out;
  for (const Shape& s : kShapes) out.push_back(randn64(s, seed++).to(d));
  return out;
}

std::vector<Tensor> clones(const std::vector<Tensor>& ts) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(t.clone());
  return out;
}

void check_same_bits(const std::vector<Tensor>& a, const std::vector<Tensor>& b, const std::string& what) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(what << " tensor " << i);
    CHECK(a[i].to_vector() == b[i].to_vector());
  }
}

struct SgdMode {
  double momentum, dampening;
  bool nesterov;
};

}  // namespace

TEST_CASE("sgd_step_multi equals sgd_step per tensor bit for bit, every mode", "[optim]") {
  for (DType d : {DType::f32, DType::f64})
    for (SgdMode m : {SgdMode{0.9, 0.0, true}, SgdMode{0.9, 0.1, false}, SgdMode{0.0, 0.0, false}}) {
      std::vector<Tensor> p1 = rand_group(10, d), p2 = clones(p1);
      std::vector<Tensor> b1, b2;
      for (const Tensor& p : p1) b1.push_back(Tensor::zeros(p.shape(), d));
      b2 = clones(b1);
      std::vector<double> wd = {0.0, 5e-4, 0.01, 0.0, 5e-4, 0.1};
      for (int step = 0; step < 3; ++step) {
        std::vector<Tensor> g = rand_group(100 + 10 * uint64_t(step), d);
        // The third tensor starts a step late: its first step is the second one.
        std::vector<bool> first(p1.size(), step == 0);
        first[2] = step == 1;
        for (size_t i = 0; i < p1.size(); ++i)
          ops::sgd_step(p1[i], g[i], m.momentum != 0 ? b1[i] : Tensor(), 0.1, m.momentum, m.dampening, wd[i],
                        m.nesterov, m.momentum != 0 && first[i]);
        std::vector<bool> first_m(first.size());
        for (size_t i = 0; i < first.size(); ++i) first_m[i] = m.momentum != 0 && first[i];
        ops::sgd_step_multi(p2, g, m.momentum != 0 ? b2 : std::vector<Tensor>{}, 0.1, m.momentum, m.dampening, wd,
                            m.nesterov, first_m);
      }
      std::string what = std::string(dtype_name(d)) + " momentum " + std::to_string(m.momentum);
      check_same_bits(p1, p2, what + " params");
      check_same_bits(b1, b2, what + " buffers");
      CHECK(p1[4].to_vector() != rand_group(10, d)[4].to_vector());
    }
}

TEST_CASE("adamw_step_multi equals adamw_step per tensor bit for bit", "[optim]") {
  for (DType d : {DType::f32, DType::f64}) {
    std::vector<Tensor> p1 = rand_group(20, d), p2 = clones(p1), m1, v1;
    for (const Tensor& p : p1) {
      m1.push_back(Tensor::zeros(p.shape(), d));
      v1.push_back(Tensor::zeros(p.shape(), d));
    }
    std::vector<Tensor> m2 = clones(m1), v2 = clones(v1);
    std::vector<double> wd = {0.0, 0.01, 0.05, 0.0, 0.01, 0.2};
    for (int64_t step = 1; step <= 3; ++step) {
      std::vector<Tensor> g = rand_group(200 + 10 * uint64_t(step), d);
      for (size_t i = 0; i < p1.size(); ++i)
        ops::adamw_step(p1[i], g[i], m1[i], v1[i], 1e-3, 0.9, 0.999, 1e-8, wd[i], step);
      ops::adamw_step_multi(p2, g, m2, v2, 1e-3, 0.9, 0.999, 1e-8, wd, step);
    }
    check_same_bits(p1, p2, "adamw params");
    check_same_bits(m1, m2, "adamw exp_avg");
    check_same_bits(v1, v2, "adamw exp_avg_sq");
  }
}

namespace {

// Two copies of one model's parameters, stepped by an optimizer with the multi-tensor
// path on and off; weight decay exempts the 1-D parameters; one parameter has no
// gradient in the first step.
template <class Opt, class Options>
void check_optimizer_paths(const Options& o, const char* what) {
  std::vector<std::pair<std::string, Variable>> n1, n2;
  const std::vector<std::string> names = {"w0", "b0.bias", "w1", "bn.weight", "w2", "w3"};
  for (size_t i = 0; i < kShapes.size(); ++i) {
    Tensor t = randn64(kShapes[i], 30 + i).to(DType::f32);
    n1.emplace_back(names[i], Variable(t, true));
    n2.emplace_back(names[i], Variable(t.clone(), true));
  }
  Opt a(optim::make_param_entries(n1, 5e-4, true), o), b(optim::make_param_entries(n2, 5e-4, true), o);
  b.multi_tensor = false;
  for (int step = 0; step < 4; ++step) {
    for (size_t i = 0; i < n1.size(); ++i) {
      if (step == 0 && i == 2) continue;
      Tensor g = randn64(kShapes[i], 300 + 10 * uint64_t(step) + i).to(DType::f32);
      n1[i].second.set_grad(g);
      n2[i].second.set_grad(g.clone());
    }
    a.step();
    b.step();
  }
  for (size_t i = 0; i < n1.size(); ++i) {
    INFO(what << " " << names[i]);
    CHECK(n1[i].second.data().to_vector() == n2[i].second.data().to_vector());
  }
  auto sa = a.state_dict(), sb = b.state_dict();
  REQUIRE(sa.size() == sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    INFO(what << " state " << sa[i].first);
    CHECK(sa[i].first == sb[i].first);
    CHECK(sa[i].second.to_vector() == sb[i].second.to_vector());
  }
}

}  // namespace

TEST_CASE("SGD and AdamW give the same bits with and without the multi-tensor step", "[optim]") {
  check_optimizer_paths<optim::SGD>(optim::SgdOptions{0.1, 0.9, 0.0, true}, "sgd nesterov");
  check_optimizer_paths<optim::SGD>(optim::SgdOptions{0.1, 0.0, 0.0, false}, "sgd plain");
  check_optimizer_paths<optim::AdamW>(optim::AdamWOptions{1e-3, 0.9, 0.999, 1e-8}, "adamw");
}

TEST_CASE("an optimizer over parameters of two dtypes falls back to the per-tensor steps", "[optim]") {
  Variable a(randn64({3}, 40).to(DType::f32), true), b(randn64({2}, 41), true);
  optim::SGD opt({optim::ParamEntry{"a", a, 0.0}, optim::ParamEntry{"b", b, 0.0}}, optim::SgdOptions{0.5, 0.0});
  a.set_grad(Tensor::ones({3}));
  b.set_grad(Tensor::ones({2}, DType::f64));
  std::vector<double> a0 = a.data().to_vector(), b0 = b.data().to_vector();
  opt.step();
  CHECK(a.data().to_vector()[0] == Approx(a0[0] - 0.5));
  CHECK(b.data().to_vector()[1] == Approx(b0[1] - 0.5));
}

TEST_CASE("sum_squares_multi equals a naive f64 sum, and clip_grad_norm uses it", "[optim]") {
  for (DType d : {DType::f32, DType::f64}) {
    std::vector<Tensor> xs = rand_group(50, d);
    double want = 0;
    for (const Tensor& x : xs)
      for (double v : x.to_vector()) want += v * v;
    Tensor got = ops::sum_squares_multi(xs);
    CHECK(got.dtype() == DType::f64);
    CHECK(got.item() == Approx(want).epsilon(1e-13));
  }
  std::vector<Variable> ps;
  double want = 0;
  for (size_t i = 0; i < kShapes.size(); ++i) {
    Tensor g = randn64(kShapes[i], 60 + i);
    for (double v : g.to_vector()) want += v * v;
    ps.emplace_back(Tensor::zeros(kShapes[i], DType::f64), true);
    ps.back().set_grad(g);
  }
  std::vector<double> g4 = ps[4].grad().to_vector();
  double norm = optim::clip_grad_norm(ps, 1.0);
  CHECK(norm == Approx(std::sqrt(want)).epsilon(1e-13));
  double s = 1.0 / (norm + 1e-6);
  CHECK(ps[4].grad().to_vector()[17] == Approx(g4[17] * s).epsilon(1e-13));
}

TEST_CASE("multi-tensor ops check their groups", "[optim]") {
  std::vector<Tensor> p = {Tensor::zeros({3}), Tensor::zeros({2}, DType::f64)};
  std::vector<Tensor> g = {Tensor::zeros({3}), Tensor::zeros({2}, DType::f64)};
  CHECK_THROWS_WITH(ops::sgd_step_multi(p, g, {}, 0.1, 0.0, 0.0, {0.0, 0.0}, false, {false, false}),
                    Catch::Contains("sgd_step_multi") && Catch::Contains("parameter 1"));
  std::vector<Tensor> p1 = {Tensor::zeros({3})}, g1 = {Tensor::zeros({4})};
  CHECK_THROWS_WITH(ops::sgd_step_multi(p1, g1, {}, 0.1, 0.0, 0.0, {0.0}, false, {false}), Catch::Contains("gradient"));
  CHECK_THROWS_WITH(
      ops::adamw_step_multi(p1, {Tensor::zeros({3})}, {Tensor::zeros({3})}, {}, 0.1, 0.9, 0.99, 1e-8, {0.0}, 1),
      Catch::Contains("second moments"));
}
