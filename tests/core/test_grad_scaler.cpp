// Loss scaling: the AMP_UNSCALE op against a naive loop, and the GradScaler's skip,
// backoff, growth and checkpoint state.
#include <cmath>
#include <limits>
#include <vector>

#include "engine/optim/grad_scaler.h"
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

TEST_CASE("amp_unscale_ multiplies every gradient and raises the flag only on inf/NaN", "[optim][amp]") {
  for (DType dt : {DType::f32, DType::f64, DType::bf16}) {
    INFO(dtype_name(dt));
    std::vector<Tensor> gs{randn64({7, 3}, 1, 0.0, 100.0).to(dt), randn64({1}, 2).to(dt),
                           randn64({1001}, 3, 0.0, 1e4).to(dt)};
    std::vector<std::vector<double>> before;
    for (const Tensor& g : gs) before.push_back(g.to_vector());
    Tensor flag = Tensor::zeros({1});
    ops::amp_unscale_(gs, flag, 1.0 / 1024);
    CHECK(flag.item() == 0.0);
    for (size_t k = 0; k < gs.size(); ++k) {
      std::vector<double> got = gs[k].to_vector();
      // A power-of-two scale is exact in every float dtype (no underflow at these sizes).
      for (size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == before[k][i] / 1024);
    }
    // One non-finite element anywhere in the list raises the flag, which stays raised.
    for (double bad : {std::numeric_limits<double>::infinity(), std::nan("")}) {
      Tensor g = Tensor::ones({5}, dt);
      std::vector<double> v(5, 1.0);
      v[3] = bad;
      Tensor h = Tensor::from_vector(v, {5}, dt);
      Tensor f = Tensor::zeros({1});
      ops::amp_unscale_({g, h}, f, 0.5);
      CHECK(f.item() == 1.0);
      CHECK(g.to_vector()[0] == 0.5);
      ops::amp_unscale_({g}, f, 0.5);
      CHECK(f.item() == 1.0);
    }
  }
  // A finite value that overflows when unscaled by a scale below 1 counts too.
  Tensor g = Tensor::full({3}, 3e38);
  Tensor f = Tensor::zeros({1});
  ops::amp_unscale_({g}, f, 4.0);
  CHECK(f.item() == 1.0);
  CHECK_THROWS_WITH(ops::amp_unscale_({g}, Tensor::zeros({2}), 1.0), Catch::Contains("found_inf"));
}

namespace {

struct Setup {
  Variable w{Tensor::from_vector({0.5, -1.0, 2.0}, {3}), true};
  Tensor x = Tensor::from_vector({1.0, 2.0, -3.0}, {3});
  optim::SGD opt{{optim::ParamEntry{"w", w, 0.0}}, optim::SgdOptions{0.1, 0.0, 0.0, false}};
  // loss = sum(w * x) ^ 2 / 2: gradient x * sum(w * x).
  Variable loss() const { return ag::mul(ag::pow(ag::sum(ag::mul(w, Variable(x))), 2.0), 0.5); }
};

}  // namespace

TEST_CASE("GradScaler: scaled backward, unscale and step equal the unscaled reference", "[optim][amp]") {
  Setup s, ref;
  optim::GradScaler scaler;
  CHECK(scaler.get_scale() == 65536.0);
  s.opt.zero_grad();
  scaler.scale(s.loss()).backward();
  CHECK(s.w.grad().to_vector()[0] == Approx(65536.0 * 1.0 * (0.5 - 2.0 - 6.0)));
  REQUIRE_FALSE(scaler.unscale(s.opt));
  ref.opt.zero_grad();
  ref.loss().backward();
  CHECK(s.w.grad().to_vector() == ref.w.grad().to_vector());
  CHECK(scaler.step(s.opt));
  ref.opt.step();
  CHECK(s.w.data().to_vector() == ref.w.data().to_vector());
  CHECK(scaler.skipped_steps() == 0);
  CHECK(scaler.growth_tracker() == 1);
}

TEST_CASE("GradScaler: an overflow skips the step, keeps the parameters and halves the scale", "[optim][amp]") {
  Setup s;
  optim::GradScaler scaler;
  std::vector<double> w0 = s.w.data().to_vector();
  s.opt.zero_grad();
  scaler.scale(s.loss()).backward();
  s.w.set_grad(Tensor::from_vector({1.0, std::numeric_limits<double>::infinity(), 0.0}, {3}));
  CHECK_FALSE(scaler.step(s.opt));
  CHECK(s.w.data().to_vector() == w0);
  CHECK(scaler.get_scale() == 32768.0);
  CHECK(scaler.skipped_steps() == 1);
  CHECK(s.opt.steps() == 0);
  // NaN too; then a finite step goes through at the reduced scale.
  s.w.set_grad(Tensor::from_vector({std::nan(""), 0.0, 0.0}, {3}));
  CHECK_FALSE(scaler.step(s.opt));
  CHECK(scaler.get_scale() == 16384.0);
  s.opt.zero_grad();
  scaler.scale(s.loss()).backward();
  CHECK(scaler.step(s.opt));
  CHECK(s.w.data().to_vector() != w0);
  CHECK(scaler.skipped_steps() == 2);
}

TEST_CASE("GradScaler: the scale grows after growth_interval good steps in a row", "[optim][amp]") {
  Setup s;
  optim::GradScalerOptions o;
  o.init_scale = 8.0;
  o.growth_interval = 3;
  optim::GradScaler scaler(o);
  auto good_step = [&] {
    s.opt.zero_grad();
    scaler.scale(s.loss()).backward();
    return scaler.step(s.opt);
  };
  CHECK(good_step());
  CHECK(good_step());
  CHECK(scaler.get_scale() == 8.0);
  CHECK(good_step());
  CHECK(scaler.get_scale() == 16.0);
  CHECK(scaler.growth_tracker() == 0);
  // An overflow resets the run of good steps.
  CHECK(good_step());
  CHECK(good_step());
  s.w.set_grad(Tensor::from_vector({std::nan(""), 0.0, 0.0}, {3}));
  CHECK_FALSE(scaler.step(s.opt));
  CHECK(scaler.get_scale() == 8.0);
  CHECK(good_step());
  CHECK(good_step());
  CHECK(scaler.get_scale() == 8.0);
  CHECK(good_step());
  CHECK(scaler.get_scale() == 16.0);
}

TEST_CASE("GradScaler: state round trip beside the optimizer state, disabled is the identity", "[optim][amp]") {
  optim::GradScalerOptions o;
  o.init_scale = 1024.0;
  o.growth_interval = 5;
  optim::GradScaler a(o);
  Setup s;
  for (int i = 0; i < 3; ++i) {
    s.opt.zero_grad();
    a.scale(s.loss()).backward();
    a.step(s.opt);
  }
  s.w.set_grad(Tensor::from_vector({std::nan(""), 0.0, 0.0}, {3}));
  a.step(s.opt);
  s.opt.zero_grad();
  a.scale(s.loss()).backward();
  a.step(s.opt);
  auto state = s.opt.state_dict();
  for (auto& e : a.state_dict()) state.push_back(e);
  optim::GradScaler b(o);
  b.load_state_dict(state);
  CHECK(b.get_scale() == a.get_scale());
  CHECK(b.get_scale() == 512.0);
  CHECK(b.growth_tracker() == 1);
  CHECK(b.skipped_steps() == 1);
  CHECK(state.size() == s.opt.state_dict().size());
  // Without scaler entries the state is left alone.
  optim::GradScaler c(o);
  c.load_state_dict(state);
  CHECK(c.get_scale() == 1024.0);

  optim::GradScalerOptions off;
  off.enabled = false;
  optim::GradScaler d(off);
  Setup t, ref;
  Variable l = t.loss();
  CHECK(d.scale(l).id() == l.id());
  t.opt.zero_grad();
  d.scale(t.loss()).backward();
  CHECK(d.step(t.opt));
  ref.opt.zero_grad();
  ref.loss().backward();
  ref.opt.step();
  CHECK(t.w.data().to_vector() == ref.w.data().to_vector());
}
