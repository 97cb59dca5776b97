// CUDA parity for mixed precision: the AMP_UNSCALE op bit for bit against the CPU, and
// a bf16-autocast forward/backward of a small conv net against the CPU bf16 path.
#include <cmath>
#include <limits>

#include "cuda_parity.h"
#include "engine/autograd/autocast.h"
#include "engine/core/generator.h"
#include "engine/nn/layers.h"

using namespace engine;
using namespace engine::testing;

TEST_CASE("cuda amp_unscale_: every dtype, odd sizes, several seeds, the found-inf flag", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (uint64_t seed : {1, 2, 3}) {
      // Both devices multiply in the same precision (f32 for bf16/f16, as the CPU path
      // widens to f32), so the results agree bit for bit; 1/3000 exercises the rounding.
      std::vector<Tensor> cpu{rand_input({257, 3}, seed, d, 0.0, 500.0), rand_input({1}, seed + 10, d),
                              rand_input({4099}, seed + 20, d, 0.0, 1e3)};
      std::vector<Tensor> dev;
      for (const Tensor& t : cpu) dev.push_back(on_gpu(t));
      Tensor flag_c = Tensor::zeros({1}), flag_g = Tensor::zeros({1}, DType::f32, gpu());
      ops::amp_unscale_(cpu, flag_c, 1.0 / 3000.0);
      ops::amp_unscale_(dev, flag_g, 1.0 / 3000.0);
      for (size_t i = 0; i < cpu.size(); ++i) check_exact(dev[i], cpu[i], std::string("unscaled grad ") + dtype_name(d));
      CHECK(flag_g.item() == 0.0);
      CHECK(flag_c.item() == 0.0);
      // One inf or NaN in the last tensor of the list raises the shared flag.
      std::vector<double> v(37, 1.0);
      v[size_t(seed) * 11] = seed == 2 ? std::nan("") : std::numeric_limits<double>::infinity();
      Tensor bad = on_gpu(Tensor::from_vector(v, {37}, d));
      ops::amp_unscale_({on_gpu(cpu[0]), bad}, flag_g, 0.5);
      CHECK(flag_g.item() == 1.0);
      // The flag is never lowered by a later clean call.
      ops::amp_unscale_({on_gpu(cpu[1])}, flag_g, 0.5);
      CHECK(flag_g.item() == 1.0);
    }
}

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
