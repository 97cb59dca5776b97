// The multimodal MoE on the (simulated) GPU against the CPU: logits, loss, the trace
// kept for pictures and every parameter's gradient after one forward and backward pass,
// with held-out classes masked in training.
#include "cuda_parity.h"
#include "engine/core/generator.h"
#include "models/multimodal_moe.h"
#include "multimodal_test_config.h"

using namespace engine;
using namespace engine::testing;

namespace {

// Top 2 (two experts per token), the default expert width.
models::MultimodalConfig small_config() {
  return testing::small_multimodal_config(2, models::MultimodalConfig().hidden_mult);
}

}  // namespace

TEST_CASE("cuda multimodal MoE: logits, loss and gradients equal the CPU's", "[cuda]") {
  begin_cuda_test();
  const models::MultimodalConfig c = small_config();
  manual_seed(31);
  models::MultimodalMoE cpu(c);
  manual_seed(31);
  models::MultimodalMoE cuda(c);
  const Tensor text = rand_input({5, 6}, 41, DType::f32);
  cpu.set_class_text(text);
  cuda.set_class_text(text);
  cuda.to(gpu());
  for (auto* m : {&cpu, &cuda}) {
    m->set_seen_classes({0, 2});
    m->keep_trace(true);
  }
  const Tensor x = rand_input({4, 1, 12, 12}, 42, DType::f32);
  const Tensor y = i64_tensor({0, 2, 2, 0}, {4});
  Variable lc = cpu(Variable(x)), lg = cuda(Variable(on_gpu(x)));
  check_parity(lg.data(), lc.data(), DType::f32, "logits");
  Variable loss_c = ag::add(ag::cross_entropy(lc, y), cpu.blocks[0]->moe->aux_loss());
  Variable loss_g = ag::add(ag::cross_entropy(lg, on_gpu(y)), cuda.blocks[0]->moe->aux_loss());
  check_parity(loss_g.data(), loss_c.data(), DType::f32, "loss with the aux losses");
  check_exact(on_gpu(cuda.trace().image_experts[0]), cpu.trace().image_experts[0], "image tokens' top expert");
  check_parity(on_gpu(cuda.trace().attention[0]), cpu.trace().attention[0], DType::f32, "cross-attention");
  loss_c.backward();
  loss_g.backward();
  const auto pc = cpu.named_parameters(), pg = cuda.named_parameters();
  REQUIRE(pc.size() == pg.size());
  for (size_t i = 0; i < pc.size(); ++i) {
    INFO(pc[i].first);
    REQUIRE(pc[i].second.grad().defined());
    check_parity(pg[i].second.grad(), pc[i].second.grad(), DType::f32, pc[i].first + " gradient");
  }
}
