// On the CUDA device, as on the CPU (tests/moe/test_moe_eval.cpp): a ResNet-18+MoE's
// eval predictions do not depend on the eval batch size (1, 7 and 500), because MoE
// evaluation is dropless by default; with moe.eval_capacity_factor it drops again.
// The images are 16x16 (4 tokens per image after layer4, 16 after layer3) so that the
// 500-image passes stay short on the simulated device.
#include "batched_eval.h"
#include "cuda_parity.h"
#include "engine/core/generator.h"

using namespace engine;
using namespace engine::testing;

namespace {

const std::string kQuickstartMoe = std::string(ENGINE_SOURCE_DIR) + "/configs/quickstart_moe_fashion_mnist.json";

}  // namespace

TEST_CASE("cuda ResNet-18+MoE eval predictions are identical at eval batch sizes 1, 7 and 500", "[cuda]") {
  begin_cuda_test();
  manual_seed(7);
  auto model = model_from_config(kQuickstartMoe, 1);
  model->to(gpu());
  Tensor images = rand_input({500, 1, 16, 16}, 90, DType::f32);
  BatchedEval ref = eval_in_batches(*model, images, 500, gpu());
  CHECK(ref.dropped == 0);
  for (int64_t batch : {7, 1}) {
    INFO("eval batch " << batch);
    BatchedEval b = eval_in_batches(*model, images, batch, gpu());
    CHECK(b.dropped == 0);
    CHECK(b.slots == ref.slots);
    CHECK(b.classes == ref.classes);
    // A GPU may pick other convolution algorithms for other batch sizes: f32 rounding.
    CHECK(normalized_error(b.logits, ref.logits) < 1e-5);
  }
}

TEST_CASE("cuda ResNet-18+MoE with moe.eval_capacity_factor drops in evaluation", "[cuda]") {
  begin_cuda_test();
  manual_seed(7);
  auto model = model_from_config(kQuickstartMoe, 1, {"moe.eval_capacity_factor=1.25"});
  model->to(gpu());
  Tensor images = rand_input({70, 1, 16, 16}, 90, DType::f32);
  BatchedEval big = eval_in_batches(*model, images, 70, gpu());
  BatchedEval small = eval_in_batches(*model, images, 7, gpu());
  CHECK(big.slots == small.slots);
  CHECK(big.dropped > 0);
  CHECK(small.dropped > 0);
  CHECK(normalized_error(small.logits, big.logits) > 1e-4);
}
