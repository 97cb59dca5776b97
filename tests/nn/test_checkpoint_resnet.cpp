// Checkpointed ResNet stages: the same gradients and running statistics as the plain
// model, bit for bit in f64, and a lower peak of host memory in a training step.
#include <iostream>

#include "engine/core/generator.h"
#include "models/resnet.h"
#include "test_util.h"

using namespace engine;

namespace {

struct StepResult {
  std::vector<std::vector<double>> grads, buffers;
  double loss = 0;
  size_t peak_bytes = 0;  // host bytes allocated during the step, above what it started with
};

void to_f64(nn::Module& m) {
  for (auto& [name, p] : m.named_parameters()) {
    Variable v = p;
    v.data() = v.data().to(DType::f64);
  }
  for (auto& [name, b] : m.named_buffers())
    if (b->dtype() == DType::f32) *b = b->to(DType::f64);
}

StepResult train_step(const std::vector<int64_t>& checkpoint_stages, DType dtype, int64_t batch, int64_t size) {
  manual_seed(3);
  models::ResNetConfig rc;
  rc.width_mult = 0.125;
  rc.num_classes = 10;
  rc.checkpoint_stages = checkpoint_stages;
  models::ResNet model(rc);
  if (dtype == DType::f64) to_f64(model);
  Tensor x = testing::randn64({batch, 3, size, size}, 21).to(dtype);
  Tensor y = Tensor::from_vector(std::vector<double>(static_cast<size_t>(batch), 3.0), {batch}, DType::i64);
  StepResult r;
  const size_t before = host_memory_stats().allocated;
  reset_host_peak_memory();
  {
    Variable loss = ag::cross_entropy(model(Variable(x)), y);
    r.loss = loss.item();
    loss.backward();
  }
  r.peak_bytes = host_memory_stats().peak_allocated - before;
  for (auto& [name, p] : model.named_parameters()) r.grads.push_back(p.grad().to_vector());
  for (auto& [name, b] : model.named_buffers()) r.buffers.push_back(b->to_vector());
  return r;
}

}  // namespace

TEST_CASE("checkpointed ResNet stages give the plain model's gradients exactly (f64)", "[model][checkpoint]") {
  StepResult plain = train_step({}, DType::f64, 2, 16);
  StepResult ck = train_step({1, 2, 3, 4}, DType::f64, 2, 16);
  CHECK(plain.loss == ck.loss);
  REQUIRE(plain.grads.size() == ck.grads.size());
  for (size_t i = 0; i < plain.grads.size(); ++i) {
    INFO("parameter " << i);
    CHECK(plain.grads[i] == ck.grads[i]);
  }
  // Running statistics and batch counts moved once, as in the plain step.
  CHECK(plain.buffers == ck.buffers);
  StepResult some = train_step({2, 4}, DType::f64, 2, 16);
  for (size_t i = 0; i < plain.grads.size(); ++i) CHECK(plain.grads[i] == some.grads[i]);
}

TEST_CASE("checkpointing lowers the peak host memory of a training step", "[model][checkpoint]") {
  // The peak falls during the recomputation of stage 1, the largest: what is saved is
  // the other stages' activations, a quarter of the step's peak or so at this size.
  StepResult plain = train_step({}, DType::f32, 16, 32);
  StepResult ck = train_step({1, 2, 3, 4}, DType::f32, 16, 32);
  std::cout << "ResNet-18 x0.125, batch 16, 32x32, f32: peak host bytes of a step " << plain.peak_bytes << " plain, "
            << ck.peak_bytes << " with stages 1-4 checkpointed" << std::endl;
  CHECK(ck.loss == plain.loss);
  CHECK(double(ck.peak_bytes) < 0.85 * double(plain.peak_bytes));
  // Checkpointing stage 4 alone saves less than all four.
  StepResult last = train_step({4}, DType::f32, 16, 32);
  CHECK(last.peak_bytes < plain.peak_bytes);
  CHECK(last.peak_bytes > ck.peak_bytes);
}

TEST_CASE("ResNet rejects a checkpoint stage outside 1..4", "[model][checkpoint]") {
  models::ResNetConfig rc;
  rc.width_mult = 0.125;
  rc.checkpoint_stages = {5};
  CHECK_THROWS_WITH(models::ResNet(rc), Catch::Contains("checkpoint stage 5"));
}
