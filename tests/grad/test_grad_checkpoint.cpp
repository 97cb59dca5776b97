// Activation checkpointing: the recomputed backward pass against finite differences
// and against the same function run without checkpointing.
#include "engine/core/generator.h"
#include "engine/nn/layers.h"
#include "test_util.h"

using namespace engine;
using testing::randn64;

namespace {

std::vector<double> grad_values(const Variable& v) { return v.grad().to_vector(); }

}  // namespace

GRAD_TEST(OpKind::CHECKPOINT, "checkpoint: gradients of inputs and captured parameters") {
  // x is a non-contiguous view; w is read by fn as a parameter, b is a second input.
  Tensor x = randn64({5, 3}, 1).transpose(0, 1);
  Tensor w = randn64({3, 5}, 2), b = randn64({1, 5}, 3);
  auto f = [](const std::vector<Variable>& in) {
    Variable w = in[1];
    return ag::checkpoint(
        [w](const std::vector<Variable>& xs) { return ag::add(ag::tanh(ag::mul(xs[0], w)), ag::exp(xs[1])); },
        {in[0], in[2]}, {w});
  };
  CHECK_GRAD(OpKind::CHECKPOINT, f, {x, w, b});
}

TEST_CASE("checkpoint: batch of one, and only a parameter needing a gradient", "[grad]") {
  Tensor x = randn64({1, 4}, 4), w = randn64({1, 4}, 5);
  auto f = [&x](const std::vector<Variable>& in) {
    Variable w = in[0];
    return ag::checkpoint([w](const std::vector<Variable>& xs) { return ag::sigmoid(ag::mul(xs[0], w)); },
                          {Variable(x)}, {w});
  };
  CHECK_GRAD(OpKind::CHECKPOINT, f, {w});
}

TEST_CASE("checkpoint: without grad mode fn runs once and records nothing", "[grad]") {
  Variable x(randn64({3}, 6), true);
  int calls = 0;
  NoGradGuard ng;
  Variable y = ag::checkpoint(
      [&calls](const std::vector<Variable>& in) {
        ++calls;
        return ag::relu(in[0]);
      },
      {x}, {});
  CHECK(calls == 1);
  CHECK_FALSE(y.requires_grad());
}

TEST_CASE("checkpoint: dropout draws the same mask in the recomputation", "[grad]") {
  Tensor xd = randn64({4, 64}, 7), wd = randn64({64, 8}, 8);
  auto run = [&](bool checkpointed, std::vector<double>* gx, std::vector<double>* gw, uint64_t* offset_after) {
    manual_seed(11);
    nn::Dropout drop(0.5);
    Variable x(xd, true), w(wd, true);
    auto fn = [&drop, w](const std::vector<Variable>& in) { return ag::matmul(drop(in[0]), w); };
    Variable y = checkpointed ? ag::checkpoint(fn, {x}, {w}) : fn({x});
    // A second draw after the segment: the recomputation must not move it.
    Variable z = ag::mul(y, drop(Variable(Tensor::ones({4, 8}, DType::f64))));
    ag::sum(ag::mul(z, z)).backward();
    *gx = grad_values(x);
    *gw = grad_values(w);
    *offset_after = default_generator().offset();
  };
  std::vector<double> gx0, gw0, gx1, gw1;
  uint64_t off0 = 0, off1 = 0;
  run(false, &gx0, &gw0, &off0);
  run(true, &gx1, &gw1, &off1);
  CHECK(gx0 == gx1);
  CHECK(gw0 == gw1);
  CHECK(off0 == off1);
  size_t zeros = 0;
  for (double v : gx1) zeros += v == 0.0;
  CHECK(zeros > 0);  // the mask dropped something, so equality means the same mask
}

TEST_CASE("checkpoint: BatchNorm running statistics are updated once", "[grad]") {
  Tensor xd = randn64({3, 2, 4, 5}, 9, 0.5, 2.0);
  auto run = [&](bool checkpointed, std::vector<double>* stats, std::vector<double>* grads) {
    nn::Sequential net;
    auto conv = std::make_shared<nn::Conv2d>(2, 3, 3, 1, 1, false);
    conv->weight.data() = randn64({3, 2, 3, 3}, 10, 0.0, 0.3);
    auto bn = std::make_shared<nn::BatchNorm2d>(3);
    bn->weight.data() = bn->weight.data().to(DType::f64);
    bn->bias.data() = bn->bias.data().to(DType::f64);
    *bn->running_mean = bn->running_mean->to(DType::f64);
    *bn->running_var = bn->running_var->to(DType::f64);
    net.add(conv).add(bn).add(std::make_shared<nn::ReLU>());
    Variable x(xd, true);
    for (int step = 0; step < 2; ++step) {
      auto fn = [&net](const std::vector<Variable>& in) { return net(in[0]); };
      Variable y = checkpointed ? ag::checkpoint(fn, {x}, net.parameters()) : fn({x});
      ag::sum(ag::mul(y, y)).backward();
    }
    *stats = bn->running_mean->to_vector();
    for (double v : bn->running_var->to_vector()) stats->push_back(v);
    stats->push_back(bn->num_batches_tracked->item());
    *grads = grad_values(x);
    for (double v : grad_values(conv->weight)) grads->push_back(v);
    for (double v : grad_values(bn->weight)) grads->push_back(v);
  };
  std::vector<double> s0, g0, s1, g1;
  run(false, &s0, &g0);
  run(true, &s1, &g1);
  CHECK(s0.back() == 2.0);
  CHECK(s0 == s1);
  CHECK(g0 == g1);
}
