// Whole-model parity in f64: a small ResNet-18 trains two SGD steps on the CUDA device
// and on the CPU from the same weights and inputs. In f64 the devices' different
// summation orders move results by about 1e-15, far below any fault of a kernel, and
// small enough that no ReLU gate lands on the other side (in f32 one does now
// and then, which changes the gradients by up to 1e-2: see the README's test section).
// The op-case table checks the ops one by one; this checks the paths a network takes:
// fused batch norm + residual + ReLU forward and backward, strided and 1x1
// convolutions, gradients summed over a tensor used twice, global pooling, cross
// entropy, and the SGD step with momentum, Nesterov and weight-decay exemptions.
#include <cmath>

#include "cuda_parity.h"
#include "engine/core/generator.h"
#include "models/resnet.h"

using namespace engine;
using namespace engine::testing;

namespace {

// A ResNet of f64 parameters and statistics on device d, the same weights for every d.
std::shared_ptr<models::ResNet> f64_resnet(const models::ResNetConfig& rc, Device d) {
  manual_seed(7);
  auto m = std::make_shared<models::ResNet>(rc);
  for (auto& [name, p] : m->named_parameters()) p.data() = p.data().to(DType::f64);
  for (auto& [name, b] : m->named_buffers())
    if (b->dtype() == DType::f32) *b = b->to(DType::f64);
  m->to(d);
  return m;
}

// f64 results agree to a few ulps summed over a network; 1e-10 leaves room for the
// reduction orders and none for a wrong term (measured: at most 4e-15).
constexpr double kTol = 1e-10;

void check_close(const Tensor& gpu_value, const Tensor& cpu_value, const std::string& what) {
  double e = normalized_error(gpu_value.to(Device::cpu()), cpu_value);
  INFO(what << ": normalised error " << e);
  CHECK(e <= kTol);
}

}  // namespace

TEST_CASE("a small f64 ResNet-18 trains on CUDA with the CPU's losses, gradients and weights", "[cuda]") {
  begin_cuda_test();
  for (bool channels_last : {false, true}) {
    INFO((channels_last ? "channels-last" : "NCHW"));
    models::ResNetConfig rc;
    rc.width_mult = 1.0 / 16;  // stage widths 4, 8, 16, 32
    rc.channels_last = channels_last;
    auto cpu_model = f64_resnet(rc, Device::cpu()), gpu_model = f64_resnet(rc, gpu());
    const optim::SgdOptions o{0.05, 0.9, 0.0, true};
    optim::SGD cpu_opt(optim::make_param_entries(cpu_model->named_parameters(), 5e-4, true), o);
    optim::SGD gpu_opt(optim::make_param_entries(gpu_model->named_parameters(), 5e-4, true), o);
    for (uint64_t step = 0; step < 2; ++step) {
      INFO("step " << step);
      Tensor x = randn64({4, 3, 32, 32}, 5 + step);
      Tensor y = Tensor::from_vector({3, 1, 4, double(step)}, {4}, DType::i64);
      TwinLosses l = cross_entropy_backward({*cpu_model, *gpu_model, cpu_opt, gpu_opt}, x, y);
      CHECK(std::abs(l.cuda.item() - l.cpu.item()) <= kTol * std::max(1.0, std::abs(l.cpu.item())));
      auto pc = cpu_model->named_parameters(), pg = gpu_model->named_parameters();
      REQUIRE(pc.size() == pg.size());
      for (size_t i = 0; i < pc.size(); ++i) {
        REQUIRE(pg[i].second.has_grad());
        check_close(pg[i].second.grad(), pc[i].second.grad(), pc[i].first + " gradient");
      }
      cpu_opt.step();
      gpu_opt.step();
      for (size_t i = 0; i < pc.size(); ++i)
        check_close(pg[i].second.data(), pc[i].second.data(), pc[i].first + " after the step");
      auto bc = cpu_model->named_buffers(), bg = gpu_model->named_buffers();
      REQUIRE(bc.size() == bg.size());
      for (size_t i = 0; i < bc.size(); ++i) check_close(*bg[i].second, *bc[i].second, bc[i].first);
    }
  }
}
