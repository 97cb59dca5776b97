// Optimizer updates against hand-computed values; learning-rate schedules.
#include <cmath>

#include "engine/optim/optimizer.h"
#include "engine/optim/schedule.h"
#include "test_util.h"

using namespace engine;

TEST_CASE("SGD with momentum, Nesterov and weight decay matches PyTorch's formulas", "[optim]") {
  for (bool nesterov : {false, true}) {
    Variable p(Tensor::from_vector({1.0, -2.0}, {2}, DType::f64), true);
    optim::SGD opt({optim::ParamEntry{"w", p, 0.1}}, optim::SgdOptions{0.5, 0.9, 0.0, nesterov});
    std::vector<double> w{1.0, -2.0}, buf{0, 0};
    std::vector<std::vector<double>> grads{{0.3, -0.1}, {0.2, 0.4}, {-0.5, 0.1}};
    for (size_t s = 0; s < grads.size(); ++s) {
      p.set_grad(Tensor::from_vector(grads[s], {2}, DType::f64));
      opt.step();
      for (int i = 0; i < 2; ++i) {
        double g = grads[s][size_t(i)] + 0.1 * w[size_t(i)];
        buf[size_t(i)] = s == 0 ? g : 0.9 * buf[size_t(i)] + g;
        double d = nesterov ? g + 0.9 * buf[size_t(i)] : buf[size_t(i)];
        w[size_t(i)] -= 0.5 * d;
      }
      std::vector<double> got = p.data().to_vector();
      CHECK(got[0] == Approx(w[0]).epsilon(1e-12));
      CHECK(got[1] == Approx(w[1]).epsilon(1e-12));
    }
  }
}

TEST_CASE("AdamW matches the decoupled update with bias correction", "[optim]") {
  Variable p(Tensor::from_vector({0.5}, {1}, DType::f64), true);
  optim::AdamW opt({optim::ParamEntry{"w", p, 0.01}}, optim::AdamWOptions{0.1, 0.9, 0.999, 1e-8});
  double w = 0.5, m = 0, v = 0;
  for (int t = 1; t <= 3; ++t) {
    double g = 0.2 * t - 0.3;
    p.set_grad(Tensor::from_vector({g}, {1}, DType::f64));
    opt.step();
    w *= 1 - 0.1 * 0.01;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    w -= 0.1 * (m / (1 - std::pow(0.9, t))) / (std::sqrt(v / (1 - std::pow(0.999, t))) + 1e-8);
    CHECK(p.data().item() == Approx(w).epsilon(1e-12));
  }
  // State round trip.
  auto st = opt.state_dict();
  CHECK(st.size() == 2);
  optim::AdamW opt2({optim::ParamEntry{"w", p, 0.01}}, optim::AdamWOptions{});
  opt2.load_state_dict(st, opt.steps());
  CHECK(opt2.steps() == 3);
  CHECK(opt2.state_dict()[0].second.item() == st[0].second.item());
}

TEST_CASE("weight decay exemption for biases and normalisation parameters", "[optim]") {
  std::vector<std::pair<std::string, Variable>> named{{"conv1.weight", Variable(Tensor::zeros({2, 2, 3, 3}), true)},
                                                      {"bn1.weight", Variable(Tensor::zeros({2}), true)},
                                                      {"fc.bias", Variable(Tensor::zeros({2}), true)}};
  auto e = optim::make_param_entries(named, 5e-4, true);
  CHECK(e[0].weight_decay == 5e-4);
  CHECK(e[1].weight_decay == 0.0);
  CHECK(e[2].weight_decay == 0.0);
  CHECK(optim::make_param_entries(named, 5e-4, false)[1].weight_decay == 5e-4);
}

TEST_CASE("gradient clipping by global norm", "[optim]") {
  Variable a(Tensor::zeros({2}, DType::f64), true), b(Tensor::zeros({1}, DType::f64), true);
  a.set_grad(Tensor::from_vector({3, 0}, {2}, DType::f64));
  b.set_grad(Tensor::from_vector({4}, {1}, DType::f64));
  double n = optim::clip_grad_norm({a, b}, 1.0);
  CHECK(n == Approx(5.0));
  CHECK(a.grad().to_vector()[0] == Approx(0.6).epsilon(1e-5));
  CHECK(b.grad().to_vector()[0] == Approx(0.8).epsilon(1e-5));
}

TEST_CASE("learning-rate schedules", "[optim]") {
  optim::ScheduleOptions o;
  o.kind = "cosine";
  o.base_lr = 1.0;
  o.total_steps = 110;
  o.warmup_steps = 10;
  CHECK(optim::learning_rate(o, 0) == Approx(0.1));
  CHECK(optim::learning_rate(o, 9) == Approx(1.0));
  CHECK(optim::learning_rate(o, 10) == Approx(1.0));
  CHECK(optim::learning_rate(o, 60) == Approx(0.5));
  CHECK(optim::learning_rate(o, 110) == Approx(0.0).margin(1e-12));
  o.kind = "step";
  o.warmup_steps = 0;
  o.milestones = {50, 80};
  CHECK(optim::learning_rate(o, 49) == Approx(1.0));
  CHECK(optim::learning_rate(o, 50) == Approx(0.1));
  CHECK(optim::learning_rate(o, 100) == Approx(0.01));
  o.kind = "onecycle";
  CHECK(optim::learning_rate(o, 0) == Approx(1.0 / 25));
  CHECK(optim::learning_rate(o, 33) == Approx(1.0));
  CHECK(optim::learning_rate(o, 110) == Approx(1e-4));
  o.kind = "linear";
  CHECK_THROWS_WITH(optim::validate_schedule(o), Catch::Contains("'linear'"));
}
