// ResNet-18 on channels-last activations computes what the row-major model computes:
// outputs, every parameter gradient, running statistics and the input gradient (f64).
#include "engine/core/generator.h"
#include "models/resnet.h"
#include "test_util.h"

using namespace engine;

namespace {

struct Run {
  std::vector<double> logits, eval_logits, input_grad;
  std::vector<std::vector<double>> grads, buffers;
};

void params_to_f64(nn::Module& m) {
  for (auto& [name, p] : m.named_parameters()) {
    Variable v = p;
    v.data() = v.data().to(DType::f64);
  }
  for (auto& [name, b] : m.named_buffers())
    if (b->dtype() == DType::f32) *b = b->to(DType::f64);
}

Run run(bool channels_last, int64_t batch, int64_t size, int64_t in_channels) {
  manual_seed(7);
  models::ResNetConfig rc;
  rc.width_mult = 0.125;
  rc.in_channels = in_channels;
  rc.channels_last = channels_last;
  models::ResNet model(rc);
  params_to_f64(model);
  Variable x(testing::randn64({batch, in_channels, size, size}, 70), true);
  Tensor r = testing::randn64({batch, 10}, 71);
  Run out;
  Variable logits = model(x);
  out.logits = logits.data().to_vector();
  ag::sum(ag::mul(logits, Variable(r))).backward();
  out.input_grad = x.grad().to_vector();
  for (auto& [name, p] : model.named_parameters()) out.grads.push_back(p.grad().to_vector());
  for (auto& [name, b] : model.named_buffers()) out.buffers.push_back(b->to_vector());
  model.eval();
  NoGradGuard ng;
  out.eval_logits = model(Variable(testing::randn64({batch, in_channels, size, size}, 72))).data().to_vector();
  return out;
}

double max_rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double scale = 1, worst = 0;
  for (double v : b) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst / scale;
}

void check_same(const Run& cl, const Run& ref) {
  CHECK(max_rel_diff(cl.logits, ref.logits) < 1e-12);
  CHECK(max_rel_diff(cl.eval_logits, ref.eval_logits) < 1e-12);
  CHECK(max_rel_diff(cl.input_grad, ref.input_grad) < 1e-12);
  REQUIRE(cl.grads.size() == ref.grads.size());
  for (size_t i = 0; i < ref.grads.size(); ++i) {
    INFO("parameter " << i);
    CHECK(max_rel_diff(cl.grads[i], ref.grads[i]) < 1e-10);
  }
  REQUIRE(cl.buffers.size() == ref.buffers.size());
  for (size_t i = 0; i < ref.buffers.size(); ++i) {
    INFO("buffer " << i);
    CHECK(max_rel_diff(cl.buffers[i], ref.buffers[i]) < 1e-12);
  }
}

}  // namespace

TEST_CASE("ResNet-18 x1/8 channels-last: outputs and all gradients equal the NCHW model (f64)",
          "[model][memory_format]") {
  check_same(run(true, 2, 16, 3), run(false, 2, 16, 3));
  // Grayscale input (C = 1, where strides alone cannot tell the formats apart), odd size.
  check_same(run(true, 3, 9, 1), run(false, 3, 9, 1));
}

TEST_CASE("ResNet-18 channels-last keeps its activations channels-last", "[model][memory_format]") {
  manual_seed(8);
  models::ResNetConfig rc;
  rc.width_mult = 0.125;
  rc.channels_last = true;
  models::ResNet model(rc);
  Variable x(ops::randn({2, 3, 16, 16}, 80, 0));
  Variable h = ag::relu((*model.bn1)((*model.conv1)(ag::contiguous(x, MemoryFormat::ChannelsLast))));
  CHECK(h.data().suggest_memory_format() == MemoryFormat::ChannelsLast);
  for (auto& stage : model.layers) {
    h = (*stage)(h);
    CHECK(h.data().suggest_memory_format() == MemoryFormat::ChannelsLast);
  }
  CHECK(model(x).shape() == Shape{2, 10});
}
