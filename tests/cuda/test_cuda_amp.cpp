// Mixed precision on CUDA: a bf16-autocast forward/backward of a small conv net against
// the CPU bf16 path. (AMP_UNSCALE's parity is the op-case table's, run by tests/ops.)
#include <cmath>
#include <limits>

#include "cuda_parity.h"
#include "engine/autograd/autocast.h"
#include "engine/core/generator.h"
#include "engine/nn/layers.h"

using namespace engine;
using namespace engine::testing;

namespace {

std::shared_ptr<nn::Sequential> small_net(Device device) {
  manual_seed(21);
  auto s = std::make_shared<nn::Sequential>();
  s->add(std::make_shared<nn::Conv2d>(3, 8, 3, 1, 1, false))
      .add(std::make_shared<nn::BatchNorm2d>(8))
      .add(std::make_shared<nn::ReLU>())
      .add(std::make_shared<nn::Conv2d>(8, 16, 3, 2, 1, false))
      .add(std::make_shared<nn::BatchNorm2d>(16))
      .add(std::make_shared<nn::ReLU>())
      .add(std::make_shared<nn::GlobalAvgPool>())
      .add(std::make_shared<nn::Linear>(16, 5));
  s->to(device);
  return s;
}

}  // namespace

TEST_CASE("cuda bf16 autocast: a conv net's forward and backward match the CPU bf16 path", "[cuda]") {
  begin_cuda_test();
  runtime::cuda_set_tf32(false);
  for (uint64_t seed : {5, 6}) {
    Tensor x = rand_input({3, 3, 11, 9}, seed, DType::f32);
    Tensor labels = i64_tensor({0, 4, 2}, {3});
    auto cpu = small_net(Device::cpu()), dev = small_net(gpu());
    Variable loss_c, loss_g, conv_c, conv_g;
    {
      AutocastGuard g(DType::bf16);
      conv_c = (*cpu->named_children()[0].second)(Variable(x));
      conv_g = (*dev->named_children()[0].second)(Variable(on_gpu(x)));
      loss_c = ag::cross_entropy((*cpu)(Variable(x)), labels);
      loss_g = ag::cross_entropy((*dev)(Variable(on_gpu(x))), on_gpu(labels));
    }
    REQUIRE(conv_g.dtype() == DType::bf16);
    check_parity(conv_g.data(), conv_c.data(), DType::bf16, "bf16 conv output");
    loss_c.backward();
    loss_g.backward();
    CHECK(loss_g.dtype() == DType::f32);
    check_parity(loss_g.data(), loss_c.data(), DType::bf16, "loss");
    auto pc = cpu->named_parameters(), pg = dev->named_parameters();
    REQUIRE(pc.size() == pg.size());
    for (size_t i = 0; i < pc.size(); ++i) {
      REQUIRE(pg[i].second.has_grad());
      CHECK(pg[i].second.grad().dtype() == DType::f32);
      check_parity(pg[i].second.grad(), pc[i].second.grad(), DType::bf16, "grad " + pc[i].first);
    }
  }
}
