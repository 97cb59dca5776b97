// The ResNet BasicBlock runs bn1 + relu and bn2 + residual add + relu as fused ops; this
// checks that it computes exactly the unfused composition (f64: output, running
// statistics, gradients of the input and of every parameter) and that the parameter and
// buffer names, which checkpoints are keyed by, are torchvision's.
#include "engine/core/generator.h"
#include "models/resnet.h"
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {

void to_f64(nn::Module& m) {
  for (auto& [name, p] : m.named_parameters()) {
    Variable v = p;
    v.data() = v.data().to(DType::f64);
  }
  for (auto& [name, b] : m.named_buffers())
    if (b->dtype() == DType::f32) *b = b->to(DType::f64);
}

std::shared_ptr<models::BasicBlock> make_block(int64_t in, int64_t out, int64_t stride, bool training) {
  manual_seed(11);
  auto b = std::make_shared<models::BasicBlock>(in, out, stride);
  to_f64(*b);
  // Non-trivial affine parameters and running statistics (the defaults are 1, 0, 0, 1).
  uint64_t seed = 100;
  for (auto& [name, p] : b->named_parameters())
    if (p.dim() == 1) {
      Variable v = p;
      v.data().copy_from(randn64(p.shape(), ++seed, 0.3, 1.0));
    }
  for (auto& [name, t] : b->named_buffers()) {
    if (name.find("running_mean") != std::string::npos) t->copy_from(randn64(t->shape(), ++seed, 0.0, 0.2));
    if (name.find("running_var") != std::string::npos) t->copy_from(uniform64(t->shape(), ++seed, 0.5, 2.0));
  }
  b->train(training);
  return b;
}

Variable unfused_forward(models::BasicBlock& b, const Variable& x) {
  Variable h = ag::relu((*b.bn1)((*b.conv1)(x)));
  h = (*b.bn2)((*b.conv2)(h));
  Variable identity = b.downsample ? (*b.downsample)(x) : x;
  return ag::relu(ag::add(h, identity));
}

}  // namespace

TEST_CASE("fused BasicBlock equals the unfused composition in f64: output, running stats, all gradients", "[model]") {
  struct Case {
    int64_t in, out, stride;
  };
  for (Case c : {Case{4, 8, 2}, Case{6, 6, 1}})
    for (bool training : {true, false}) {
      INFO("block " << c.in << " -> " << c.out << " stride " << c.stride << ", training " << training);
      auto fused = make_block(c.in, c.out, c.stride, training);
      auto plain = make_block(c.in, c.out, c.stride, training);
      Shape xs = {3, c.in, 6, 5};
      Variable x1(randn64(xs, 7), true), x2(x1.data().clone(), true);
      Variable y1 = fused->forward(x1);
      Variable y2 = unfused_forward(*plain, x2);
      REQUIRE(y1.shape() == y2.shape());
      CHECK(normalized_error(y1.data(), y2.data()) < 1e-14);
      Tensor r = randn64(y1.shape(), 8);
      ag::sum(ag::mul(y1, Variable(r))).backward();
      ag::sum(ag::mul(y2, Variable(r))).backward();
      CHECK(normalized_error(x1.grad(), x2.grad()) < 1e-12);
      auto p1 = fused->named_parameters(), p2 = plain->named_parameters();
      REQUIRE(p1.size() == p2.size());
      for (size_t i = 0; i < p1.size(); ++i) {
        INFO(p1[i].first);
        REQUIRE(p1[i].second.has_grad());
        CHECK(normalized_error(p1[i].second.grad(), p2[i].second.grad()) < 1e-12);
      }
      auto b1 = fused->named_buffers(), b2 = plain->named_buffers();
      for (size_t i = 0; i < b1.size(); ++i) {
        INFO(b1[i].first);
        CHECK(b1[i].second->to_vector() == b2[i].second->to_vector());
      }
    }
}

TEST_CASE("fused BasicBlock keeps torchvision's state_dict names, and a state_dict loads into a fresh model",
          "[model]") {
  manual_seed(5);
  models::BasicBlock b(4, 8, 2);
  std::vector<std::string> names;
  for (auto& [n, t] : b.state_dict()) names.push_back(n);
  std::vector<std::string> bn = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
  std::vector<std::string> want = {"conv1.weight"};
  for (auto& s : bn) want.push_back("bn1." + s);
  want.push_back("conv2.weight");
  for (auto& s : bn) want.push_back("bn2." + s);
  want.push_back("downsample.0.weight");
  for (auto& s : bn) want.push_back("downsample.1." + s);
  CHECK(names == want);

  models::ResNetConfig rc;
  rc.width_mult = 0.125;
  models::ResNet a(rc);
  Tensor x = randn64({2, 3, 8, 8}, 9).to(DType::f32);
  a.forward(Variable(x));  // a training step moves the running statistics
  a.eval();
  manual_seed(6);
  models::ResNet b2(rc);
  b2.load_state_dict(a.state_dict());
  b2.eval();
  CHECK(a.forward(Variable(x)).data().to_vector() == b2.forward(Variable(x)).data().to_vector());
}
