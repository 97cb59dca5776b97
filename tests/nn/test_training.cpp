// Small networks trained with SGD on a fixed batch drive the loss close to zero;
// module naming, state dicts and devices.
#include <cmath>

#include "engine/core/generator.h"
#include "engine/nn/layers.h"
#include "engine/optim/optimizer.h"
#include "test_util.h"

using namespace engine;

namespace {

double train_fixed_batch(nn::Module& model, const Tensor& x, const Tensor& y, double lr, int steps) {
  optim::SGD opt(optim::make_param_entries(model.named_parameters(), 0.0, false), optim::SgdOptions{lr, 0.9});
  double loss = 0;
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    Variable l = ag::cross_entropy(model(Variable(x)), y);
    l.backward();
    opt.step();
    loss = l.item();
  }
  return loss;
}

}  // namespace

TEST_CASE("a tiny MLP fits a fixed batch", "[nn][train]") {
  manual_seed(1);
  auto mlp = std::make_shared<nn::Sequential>();
  mlp->add(std::make_shared<nn::Linear>(10, 32))
      .add(std::make_shared<nn::ReLU>())
      .add(std::make_shared<nn::Linear>(32, 4));
  Tensor x = ops::randn({16, 10}, 5, 0);
  std::vector<double> labels;
  for (int i = 0; i < 16; ++i) labels.push_back(i % 4);
  Tensor y = Tensor::from_vector(labels, {16}, DType::i64);
  double first = ag::cross_entropy((*mlp)(Variable(x)), y).item();
  double last = train_fixed_batch(*mlp, x, y, 0.1, 200);
  INFO("loss " << first << " -> " << last);
  CHECK(first > 1.0);
  CHECK(last < 0.01);
}

TEST_CASE("a tiny CNN (conv, BN, ReLU, pool, linear) fits a fixed batch", "[nn][train]") {
  manual_seed(2);
  auto cnn = std::make_shared<nn::Sequential>();
  cnn->add(std::make_shared<nn::Conv2d>(1, 8, 3, 1, 1, false))
      .add(std::make_shared<nn::BatchNorm2d>(8))
      .add(std::make_shared<nn::ReLU>())
      .add(std::make_shared<nn::MaxPool2d>(2, 2))
      .add(std::make_shared<nn::Conv2d>(8, 8, 3, 1, 1))
      .add(std::make_shared<nn::ReLU>())
      .add(std::make_shared<nn::GlobalAvgPool>())
      .add(std::make_shared<nn::Linear>(8, 3));
  Tensor x = ops::randn({12, 1, 8, 8}, 6, 0);
  std::vector<double> labels;
  for (int i = 0; i < 12; ++i) labels.push_back(i % 3);
  Tensor y = Tensor::from_vector(labels, {12}, DType::i64);
  double last = train_fixed_batch(*cnn, x, y, 0.05, 150);
  INFO("final loss " << last);
  CHECK(last < 0.05);
}

TEST_CASE("module names follow PyTorch's state_dict", "[nn]") {
  nn::Sequential s;
  s.add(std::make_shared<nn::Conv2d>(3, 4, 3, 1, 1, false)).add(std::make_shared<nn::BatchNorm2d>(4));
  std::vector<std::string> names;
  for (auto& [n, t] : s.state_dict()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                          "1.num_batches_tracked"});
  CHECK(s.num_parameters() == 4 * 3 * 9 + 8);
  // A state dict loads into a fresh module; mismatches are errors naming the tensor.
  nn::Sequential t;
  t.add(std::make_shared<nn::Conv2d>(3, 4, 3, 1, 1, false)).add(std::make_shared<nn::BatchNorm2d>(4));
  t.load_state_dict(s.state_dict());
  CHECK(t.state_dict()[0].second.to_vector() == s.state_dict()[0].second.to_vector());
  auto bad = s.state_dict();
  bad[0].second = Tensor::zeros({4, 3, 1, 1});
  CHECK_THROWS_WITH(t.load_state_dict(bad), Catch::Contains("'0.weight'"));
  // Another dtype is refused unless asked to convert; NaN/inf weights unless allowed.
  auto f64 = s.state_dict();
  f64[0].second = f64[0].second.to(DType::f64);
  CHECK_THROWS_WITH(t.load_state_dict(f64), Catch::Contains("tensor '0.weight' is f64, the model holds f32"));
  nn::LoadOptions convert;
  convert.convert_dtype = true;
  t.load_state_dict(f64, true, convert);
  auto nan = s.state_dict();
  nan[2].second = nan[2].second.clone();
  std::vector<double> b = nan[2].second.to_vector();
  b[3] = NAN;
  nan[2].second = Tensor::from_vector(b, nan[2].second.shape(), nan[2].second.dtype());
  CHECK_THROWS_WITH(t.load_state_dict(nan), Catch::Contains("tensor '1.bias' holds a non-finite value at element 3"));
  nn::LoadOptions allow;
  allow.allow_non_finite = true;
  t.load_state_dict(nan, true, allow);
  CHECK(std::isnan(t.state_dict()[2].second.to_vector()[3]));
}

TEST_CASE("modules check their input shapes", "[nn]") {
  nn::Linear l(5, 2);
  CHECK_THROWS_WITH(l(Variable(Tensor::zeros({3, 4}))), Catch::Contains("expected input [N, 5], got [3, 4]"));
  nn::Conv2d c(3, 4, 3);
  CHECK_THROWS_WITH(c(Variable(Tensor::zeros({1, 2, 5, 5}))), Catch::Contains("3 channels"));
}

TEST_CASE("no-grad guard records no graph", "[nn]") {
  Variable w(Tensor::ones({2}), true);
  {
    NoGradGuard ng;
    Variable y = ag::mul(w, w);
    CHECK_FALSE(y.requires_grad());
  }
  Variable y = ag::mul(w, w);
  CHECK(y.requires_grad());
}

TEST_CASE("parameter gradients accumulate across backward calls", "[nn]") {
  Variable w(Tensor::from_vector({2.0}, {1}, DType::f64), true);
  ag::sum(ag::mul(w, w)).backward();
  ag::sum(ag::mul(w, w)).backward();
  CHECK(w.grad().item() == Approx(8.0));
  w.zero_grad();
  CHECK_FALSE(w.has_grad());
}
