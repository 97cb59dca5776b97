// ResNet-18+MoE on channels-last activations: the MoE blocks read their tokens from
// the channels-last maps, and the outputs and gradients equal the NCHW model's (f64).
#include "engine/core/generator.h"
#include "models/resnet_moe.h"
#include "test_util.h"

using namespace engine;

namespace {

struct Run {
  std::vector<double> logits, input_grad;
  std::vector<std::vector<double>> grads;
};

Run run(bool channels_last) {
  manual_seed(11);
  models::ResNetMoEConfig c;
  c.resnet.width_mult = 0.125;
  c.resnet.in_channels = 1;
  c.resnet.channels_last = channels_last;
  c.placement = {"layer2", "head"};
  c.moe.num_experts = 4;
  c.moe.top_k = 2;
  models::ResNetMoE model(c);
  for (auto& [name, p] : model.named_parameters()) {
    Variable v = p;
    v.data() = v.data().to(DType::f64);
  }
  for (auto& [name, b] : model.named_buffers())
    if (b->dtype() == DType::f32) *b = b->to(DType::f64);
  Variable x(testing::randn64({2, 1, 12, 12}, 90), true);
  Variable logits = model(x);
  ag::sum(ag::mul(logits, Variable(testing::randn64(logits.shape(), 91)))).backward();
  Run r;
  r.logits = logits.data().to_vector();
  r.input_grad = x.grad().to_vector();
  for (auto& [name, p] : model.named_parameters())
    r.grads.push_back(p.has_grad() ? p.grad().to_vector() : std::vector<double>{});
  return r;
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]) / std::max(1.0, std::abs(b[i])));
  return d;
}

}  // namespace

TEST_CASE("ResNet-18+MoE channels-last equals the NCHW model (f64): logits and gradients", "[moe][memory_format]") {
  Run cl = run(true), ref = run(false);
  CHECK(max_diff(cl.logits, ref.logits) < 1e-12);
  CHECK(max_diff(cl.input_grad, ref.input_grad) < 1e-10);
  REQUIRE(cl.grads.size() == ref.grads.size());
  for (size_t i = 0; i < ref.grads.size(); ++i) {
    INFO("parameter " << i);
    CHECK(max_diff(cl.grads[i], ref.grads[i]) < 1e-10);
  }
}
