// Autocast: which dtype each op computes in, that gradients reach f32 parameters as
// f32, and that a bf16-autocast conv net stays close to its f32 run on the CPU.
#include <cmath>

#include "engine/autograd/autocast.h"
#include "engine/core/generator.h"
#include "engine/nn/layers.h"
#include "engine/nn/moe/moe_layer.h"
#include "test_util.h"

using namespace engine;
using namespace engine::testing;
namespace moe = engine::nn::moe;

TEST_CASE("autocast: off by default, nestable, restored on scope exit", "[nn][autocast]") {
  CHECK_FALSE(autocast_enabled());
  {
    AutocastGuard a(DType::bf16);
    CHECK(autocast_enabled());
    CHECK(autocast_dtype() == DType::bf16);
    {
      AutocastGuard b(DType::f16);
      CHECK(autocast_dtype() == DType::f16);
      AutocastGuard off(DType::f32);
      CHECK_FALSE(autocast_enabled());
    }
    CHECK(autocast_enabled());
    CHECK(autocast_dtype() == DType::bf16);
  }
  CHECK_FALSE(autocast_enabled());
  CHECK_THROWS_WITH(AutocastGuard(DType::i64), Catch::Contains("AutocastGuard"));
}

TEST_CASE("autocast: op policies (lower, f32, promote, unchanged)", "[nn][autocast]") {
  Variable x(randn64({2, 3, 5, 5}, 1).to(DType::f32), true);
  Variable w(randn64({4, 3, 3, 3}, 2, 0.0, 0.3).to(DType::f32), true);
  Variable lw(randn64({5, 4}, 3).to(DType::f32), true);
  Variable gamma(Tensor::ones({4}), true), beta(Tensor::zeros({4}), true);
  Tensor rm = Tensor::zeros({4}), rv = Tensor::ones({4});
  Tensor labels = Tensor::from_vector({0, 4}, {2}, DType::i64);
  for (DType lp : {DType::bf16, DType::f16}) {
    INFO(dtype_name(lp));
    AutocastGuard g(lp);
    Variable y = ag::conv2d(x, w, Variable(), ops::Conv2dOptions{});
    CHECK(y.dtype() == lp);
    Variable b = ag::batchnorm2d(y, gamma, beta, rm, rv, true, 0.1, 1e-5);
    CHECK(b.dtype() == DType::f32);
    CHECK(ag::relu(y).dtype() == lp);  // unchanged: runs in its input dtype
    Variable pooled = ag::global_avgpool(b);
    Variable logits = ag::linear(pooled, lw, Variable());
    CHECK(logits.dtype() == lp);
    CHECK(ag::matmul(pooled, ag::transpose(lw, 0, 1)).dtype() == lp);
    CHECK(ag::softmax(logits, 1).dtype() == DType::f32);
    CHECK(ag::log_softmax(logits, 1).dtype() == DType::f32);
    CHECK(ag::exp(logits).dtype() == DType::f32);
    CHECK(ag::sum(logits).dtype() == DType::f32);
    CHECK(ag::mean(logits).dtype() == DType::f32);
    CHECK(ag::var(logits, {1}).dtype() == DType::f32);
    CHECK(ag::add(logits, logits).dtype() == lp);
    CHECK(ag::add(logits, ag::softmax(logits, 1)).dtype() == DType::f32);  // promote to the wider
    CHECK(ag::mul(ag::softmax(logits, 1), logits).dtype() == DType::f32);
    Variable loss = ag::cross_entropy(logits, labels);
    CHECK(loss.dtype() == DType::f32);
    // f64 work is never lowered.
    Variable d(randn64({3, 3}, 4), true);
    CHECK(ag::matmul(d, d).dtype() == DType::f64);
  }
  Variable y = ag::conv2d(x, w, Variable(), ops::Conv2dOptions{});
  CHECK(y.dtype() == DType::f32);
  CHECK(ag::linear(ag::global_avgpool(y), lw, Variable()).dtype() == DType::f32);
}

namespace {

struct Net {
  std::shared_ptr<nn::Sequential> seq = std::make_shared<nn::Sequential>();
  Net() {
    manual_seed(7);
    seq->add(std::make_shared<nn::Conv2d>(3, 8, 3, 1, 1, false))
        .add(std::make_shared<nn::BatchNorm2d>(8))
        .add(std::make_shared<nn::ReLU>())
        .add(std::make_shared<nn::Conv2d>(8, 8, 3, 2, 1, false))
        .add(std::make_shared<nn::BatchNorm2d>(8))
        .add(std::make_shared<nn::ReLU>())
        .add(std::make_shared<nn::GlobalAvgPool>())
        .add(std::make_shared<nn::Linear>(8, 5));
  }
};

}  // namespace

TEST_CASE("autocast: a bf16 conv net's loss and gradients stay close to f32 on the CPU", "[nn][autocast]") {
  Tensor x = randn64({4, 3, 9, 9}, 11).to(DType::f32);
  Tensor labels = Tensor::from_vector({0, 1, 4, 2}, {4}, DType::i64);
  Net ref, amp;
  Variable l32 = ag::cross_entropy((*ref.seq)(Variable(x)), labels);
  l32.backward();
  Variable l16;
  {
    AutocastGuard g(DType::bf16);
    l16 = ag::cross_entropy((*amp.seq)(Variable(x)), labels);
  }
  l16.backward();
  CHECK(l16.dtype() == DType::f32);
  // bf16 keeps 8 significant bits (relative rounding 2^-9 = 0.2%): a few roundings
  // per layer through two convolutions and a linear layer stay well within 0.5% on the
  // loss and 2% (normalised) on the gradients; measured: 2e-4 and 5e-3.
  INFO("loss f32 " << l32.item() << " bf16 autocast " << l16.item());
  CHECK(std::abs(l16.item() - l32.item()) <= 0.005 * std::abs(l32.item()));
  auto pr = ref.seq->named_parameters(), pa = amp.seq->named_parameters();
  REQUIRE(pr.size() == pa.size());
  for (size_t i = 0; i < pr.size(); ++i) {
    INFO(pr[i].first);
    REQUIRE(pa[i].second.has_grad());
    CHECK(pa[i].second.dtype() == DType::f32);
    CHECK(pa[i].second.grad().dtype() == DType::f32);
    double e = normalized_error(pa[i].second.grad(), pr[i].second.grad());
    INFO("normalised gradient error " << e);
    CHECK(e < 2e-2);
    CHECK(e > 0.0);  // the bf16 path really ran in bf16
  }
}

TEST_CASE("autocast: an MoE layer runs under bf16 autocast, close to f32, with f32 parameter grads", "[nn][autocast]") {
  for (bool drop : {false, true}) {
    INFO("drop " << drop);
    moe::MoEOptions o;
    o.dim = 8;
    o.hidden = 6;
    o.num_experts = 4;
    o.top_k = 2;
    o.router.renormalize = true;
    o.drop_tokens = drop;
    o.capacity_factor = 0.8;
    o.dtype = DType::f32;
    manual_seed(3);
    moe::MoELayer ref(o);
    manual_seed(3);
    moe::MoELayer amp(o);
    Tensor x = randn64({19, 8}, 9).to(DType::f32);
    ref.train();
    amp.train();
    Variable y32 = ref(Variable(x));
    Variable y16;
    {
      AutocastGuard g(DType::bf16);
      y16 = amp(Variable(x));
    }
    ag::sum(ag::mul(y32, y32)).backward();
    ag::sum(ag::mul(ag::cast(y16, DType::f32), ag::cast(y16, DType::f32))).backward();
    CHECK(normalized_error(y16.data().to(DType::f32), y32.data()) < 2e-2);
    auto pr = ref.named_parameters(), pa = amp.named_parameters();
    for (size_t i = 0; i < pr.size(); ++i) {
      INFO(pr[i].first);
      REQUIRE(pa[i].second.has_grad());
      CHECK(pa[i].second.grad().dtype() == DType::f32);
      CHECK(normalized_error(pa[i].second.grad(), pr[i].second.grad()) < 5e-2);
    }
  }
}

TEST_CASE("autocast: the fused batch norm reads and writes the autocast dtype, with f32 parameters", "[nn][autocast]") {
  Tensor xt = randn64({3, 4, 5, 5}, 21).to(DType::f32), rt = randn64({3, 4, 5, 5}, 22).to(DType::f32);
  auto run = [&](bool amp) {
    Variable x(xt, true), res(rt, true);
    Variable gamma(uniform64({4}, 23, 0.5, 1.5).to(DType::f32), true), beta(randn64({4}, 24).to(DType::f32), true);
    Tensor rm = Tensor::zeros({4}, DType::f32), rv = Tensor::ones({4}, DType::f32);
    Variable y;
    {
      AutocastGuard g(amp ? DType::bf16 : DType::f32);
      y = ag::batchnorm2d_act(x, res, gamma, beta, rm, rv, true, true, 0.1, 1e-5);
    }
    CHECK(y.dtype() == (amp ? DType::bf16 : DType::f32));
    ag::sum(ag::mul(ag::cast(y, DType::f32), Variable(randn64({3, 4, 5, 5}, 25).to(DType::f32)))).backward();
    CHECK(gamma.grad().dtype() == DType::f32);
    CHECK(x.grad().dtype() == DType::f32);
    CHECK(res.grad().dtype() == DType::f32);
    return std::vector<Tensor>{y.data().to(DType::f32), x.grad(), gamma.grad(), beta.grad(), res.grad(), rm};
  };
  std::vector<Tensor> lo = run(true), hi = run(false);
  for (size_t i = 0; i < lo.size(); ++i) {
    INFO("output " << i);
    CHECK(normalized_error(lo[i], hi[i]) < 2e-2);
  }
}
