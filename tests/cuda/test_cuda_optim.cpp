// A whole forward/backward pass of a small network through autograd on CUDA, with every
// gradient compared with the CPU. (The optimizer steps' parity is the op-case table's.)
#include "cuda_parity.h"

using namespace engine;
using namespace engine::testing;

namespace {

struct Net {
  Variable w1, b1, gamma, beta, w2, b2;
  Tensor running_mean, running_var;
};

Net make_net(Device dev) {
  auto param = [&](const Shape& s, uint64_t seed, double scale) {
    return Variable(rand_input(s, seed, DType::f32, 0.0, scale).to(dev), true);
  };
  Net n;
  n.w1 = param({6, 3, 3, 3}, 90, 0.3);
  n.b1 = param({6}, 91, 0.1);
  n.gamma = param({6}, 92, 1.0);
  n.beta = param({6}, 93, 0.1);
  n.w2 = param({5, 6}, 94, 0.3);
  n.b2 = param({5}, 95, 0.1);
  n.running_mean = Tensor::zeros({6}, DType::f32, dev);
  n.running_var = Tensor::ones({6}, DType::f32, dev);
  return n;
}

// conv -> batch norm -> relu -> max pool -> global average pool -> linear -> log-softmax
// mixed into a label-smoothed cross-entropy.
Variable forward(const Net& n, const Variable& x, const Tensor& labels) {
  ops::Conv2dOptions co;
  co.pad_h = co.pad_w = 1;
  ops::Pool2dOptions po;
  Variable h = ag::conv2d(x, n.w1, n.b1, co);
  h = ag::batchnorm2d(h, n.gamma, n.beta, n.running_mean, n.running_var, true, 0.1, 1e-5);
  h = ag::maxpool2d(ag::relu(h), po);
  h = ag::linear(ag::global_avgpool(h), n.w2, n.b2);
  Variable loss = ag::cross_entropy(h, labels, 0.1);
  return ag::add(loss, ag::mul(ag::mean(ag::log_softmax(h, -1)), -0.01));
}

}  // namespace

TEST_CASE("cuda autograd: a small network's loss and every gradient match the CPU", "[cuda]") {
  begin_cuda_test();
  runtime::cuda_set_tf32(false);
  Tensor x = rand_input({4, 3, 9, 8}, 96, DType::f32);
  Tensor labels = i64_tensor({0, 4, 2, 4}, {4});
  Net cpu = make_net(Device::cpu()), dev = make_net(gpu());
  Variable xc(x, true), xg(on_gpu(x), true);
  Variable loss_c = forward(cpu, xc, labels), loss_g = forward(dev, xg, on_gpu(labels));
  loss_c.backward();
  loss_g.backward();
  check_parity(loss_g.data(), loss_c.data(), DType::f32, "loss");
  check_parity(xg.grad(), xc.grad(), DType::f32, "grad x");
  check_parity(dev.w1.grad(), cpu.w1.grad(), DType::f32, "grad conv weight");
  check_parity(dev.b1.grad(), cpu.b1.grad(), DType::f32, "grad conv bias");
  check_parity(dev.gamma.grad(), cpu.gamma.grad(), DType::f32, "grad gamma");
  check_parity(dev.beta.grad(), cpu.beta.grad(), DType::f32, "grad beta");
  check_parity(dev.w2.grad(), cpu.w2.grad(), DType::f32, "grad linear weight");
  check_parity(dev.b2.grad(), cpu.b2.grad(), DType::f32, "grad linear bias");
  check_parity(dev.running_mean, cpu.running_mean, DType::f32, "running mean");
  check_parity(dev.running_var, cpu.running_var, DType::f32, "running var");
}
