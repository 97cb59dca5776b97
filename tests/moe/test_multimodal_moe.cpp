// The multimodal MoE model (models/multimodal_moe.h): shapes, the trace kept for
// pictures, the masking of unseen classes, and f64 gradient checks of the fusion block
// (cross-attention, MoE with a modality embedding, LIMoE entropy terms) and of the
// similarity head.
#include "engine/core/generator.h"
#include "models/multimodal_moe.h"
#include "multimodal_test_config.h"
#include "test_util.h"

using namespace engine;
using namespace engine::testing;
using models::FusionBlock;
using models::MultimodalConfig;
using models::MultimodalMoE;
using Vars = std::vector<Variable>;

namespace {

// Top 1, experts 1.5 times as wide as the tokens.
MultimodalConfig small_config() { return testing::small_multimodal_config(1, 1.5); }

Tensor images(int64_t n, uint64_t seed) { return randn64({n, 1, 12, 12}, seed).to(DType::f32); }

// Every parameter of the block as an f64 leaf the gradient check varies, set into the
// block's members (the block then computes with exactly these variables).
struct BlockParams {
  std::vector<Variable*> slots;
  explicit BlockParams(FusionBlock& b) {
    auto& ca = *b.cross;
    slots = {&b.ln_image_w,
             &b.ln_image_b,
             &b.ln_text_w,
             &b.ln_text_b,
             &b.ln_moe_w,
             &b.ln_moe_b,
             &b.modality,
             &ca.query->weight,
             &ca.query->bias,
             &ca.key->weight,
             &ca.key->bias,
             &ca.value->weight,
             &ca.value->bias,
             &ca.out->weight,
             &ca.out->bias,
             &b.moe->params.router.query,
             &b.moe->params.router.keys,
             &b.moe->params.w1,
             &b.moe->params.b1,
             &b.moe->params.w2,
             &b.moe->params.b2};
  }
  std::vector<Tensor> values(uint64_t seed) const {
    std::vector<Tensor> out;
    for (size_t i = 0; i < slots.size(); ++i) out.push_back(randn64(slots[i]->shape(), seed + i, 0.0, 0.4));
    return out;
  }
};

}  // namespace

TEST_CASE("multimodal MoE: logits, trace and parameter names", "[moe][multimodal]") {
  manual_seed(7);
  MultimodalConfig c = small_config();
  MultimodalMoE m(c);
  Tensor text = randn64({5, 6}, 11).to(DType::f32);
  m.set_class_text(text);
  m.keep_trace(true);
  m.eval();
  Variable logits = m(Variable(images(4, 3)));
  REQUIRE(logits.shape() == Shape{4, 3});
  const models::MultimodalTrace& t = m.trace();
  REQUIRE(t.attention.size() == 1);
  const int64_t P = t.grid_h * t.grid_w;
  CHECK(P == 36);  // 12x12 -> stage 2 halves it
  REQUIRE(t.attention[0].shape() == Shape{4, P, 5});
  Tensor row_sums = ops::sum(t.attention[0], {2});
  for (int64_t i = 0; i < row_sums.numel(); ++i) CHECK(row_sums.to(DType::f64).data<double>()[i] == Approx(1.0));
  CHECK(t.image_experts[0].shape() == Shape{4, P});
  CHECK(t.text_experts[0].shape() == Shape{5});
  CHECK(t.image_probs[0].shape() == Shape{4 * P, 3});
  // The MoE layer keeps its statistics per modality: every token counted once (top-1).
  const nn::moe::MoEStats& s = m.blocks[0]->moe->last_stats();
  REQUIRE(s.group_names == std::vector<std::string>{"image", "text"});
  CHECK(s.group_tokens == std::vector<int64_t>{4 * P, 5});
  int64_t image_slots = 0, text_slots = 0;
  for (int64_t e = 0; e < 3; ++e) {
    image_slots += s.group_counts[size_t(e)];
    text_slots += s.group_counts[size_t(3 + e)];
  }
  CHECK(image_slots == 4 * P);
  CHECK(text_slots == 5);
  for (size_t g = 0; g < 2; ++g) {
    CHECK(s.group_utilisation(g) > 1.0 / 3 - 1e-12);
    CHECK(s.group_utilisation(g) <= 1.0 + 1e-12);
    CHECK(s.group_gate_entropy(g) >= 0.0);
    CHECK(s.group_gate_entropy(g) <= std::log(3.0) + 1e-9);
  }
  // Logits are a scaled cosine: |logit| <= exp(logit_scale) = 10 at initialisation.
  for (int64_t i = 0; i < 12; ++i) CHECK(std::abs(logits.data().data<float>()[i]) <= 10.0f + 1e-4f);
  // The state dict carries the text side, so a checkpoint is self-contained.
  bool has_text = false, has_moe = false;
  for (const auto& [name, tensor] : m.state_dict()) {
    has_text = has_text || name == "text.embeddings";
    has_moe = has_moe || name == "blocks.0.moe.experts.fc1.weight";
  }
  CHECK(has_text);
  CHECK(has_moe);
  CHECK_THROWS_WITH(m.set_class_text(randn64({4, 6}, 1)), Catch::Contains("expected [5, 6]"));
}

TEST_CASE("multimodal MoE: unseen classes are masked out of the logits in training only", "[moe][multimodal]") {
  manual_seed(9);
  MultimodalMoE m(small_config());
  m.set_class_text(randn64({5, 6}, 12).to(DType::f32));
  m.set_seen_classes({0, 2});
  Tensor x = images(3, 5);
  m.train();
  Tensor train_logits = m(Variable(x)).data().to(DType::f64);
  for (int64_t i = 0; i < 3; ++i) CHECK(train_logits.data<double>()[i * 3 + 1] < -1000.0);
  m.eval();
  Tensor eval_logits = m(Variable(x)).data().to(DType::f64);
  for (int64_t i = 0; i < 3; ++i) CHECK(std::abs(eval_logits.data<double>()[i * 3 + 1]) <= 10.0 + 1e-4);
  // A loss on seen labels gives no gradient through the masked logit.
  m.train();
  Variable loss = ag::cross_entropy(m(Variable(x)), Tensor::from_vector({0, 2, 0}, {3}, DType::i64));
  loss.backward();
  CHECK(std::isfinite(loss.item()));
}

TEST_CASE("multimodal MoE: configuration errors name what is wrong", "[moe][multimodal]") {
  MultimodalConfig c = small_config();
  c.text_classes = {0, 1, 1, 0};
  CHECK_THROWS_WITH(MultimodalMoE(c), Catch::Contains("class 2 has no description"));
  c = small_config();
  c.text_classes.push_back(3);
  CHECK_THROWS_WITH(MultimodalMoE(c), Catch::Contains("class 3 is out of range [0, 3)"));
  c = small_config();
  c.heads = 3;
  CHECK_THROWS_WITH(MultimodalMoE(c), Catch::Contains("dim 8 is not a multiple of heads 3"));
}

TEST_CASE("multimodal MoE: gradient check of the fusion block (f64)", "[moe][multimodal][grad]") {
  manual_seed(21);
  MultimodalConfig c = small_config();
  c.moe.dtype = DType::f64;
  FusionBlock block(c);
  BlockParams params(block);
  const int64_t N = 2, P = 3, M = 5, d = c.dim;
  const Tensor text_classes = Tensor::from_vector({0, 1, 1, 2, 0}, {M}, DType::i64);
  std::vector<Tensor> inputs = {randn64({N * P, d}, 100), randn64({M, d}, 101)};
  for (const Tensor& t : params.values(200)) inputs.push_back(t);
  auto f = [&](const Vars& v) {
    for (size_t i = 0; i < params.slots.size(); ++i) *params.slots[i] = v[i + 2];
    Variable image = v[0], text = v[1];
    block.run(image, text, text_classes, N, P, nullptr);
    Variable aux = ag::reshape(block.moe->aux_loss(), {1});
    return ag::concat({ag::reshape(image, {N * P * d}), ag::reshape(text, {M * d}), aux}, 0);
  };
  GradCheckOptions o;
  o.tol = 1e-5;
  GradCheckResult r = gradcheck(f, inputs, o);
  INFO(r.message);
  CHECK(r.ok);
  CHECK(r.checked > 300);
  CHECK(r.saw(OpKind::SOFTMAX));
  CHECK(r.saw(OpKind::MOE_GROUPED_MATMUL));
}

TEST_CASE("multimodal MoE: gradient check of the similarity head (f64)", "[moe][multimodal][grad]") {
  manual_seed(22);
  MultimodalConfig c = small_config();
  MultimodalMoE m(c);
  const int64_t N = 2, P = 3, M = 5, d = c.dim;
  std::vector<Variable*> slots = {&m.ln_image_w,       &m.ln_image_b,        &m.ln_text_w,
                                  &m.ln_text_b,        &m.image_out->weight, &m.image_out->bias,
                                  &m.text_out->weight, &m.text_out->bias,    &m.logit_scale};
  std::vector<Tensor> inputs = {randn64({N * P, d}, 300), randn64({M, d}, 301)};
  for (size_t i = 0; i < slots.size(); ++i) inputs.push_back(randn64(slots[i]->shape(), 400 + i, 0.0, 0.5));
  auto f = [&](const Vars& v) {
    for (size_t i = 0; i < slots.size(); ++i) *slots[i] = v[i + 2];
    return m.head_logits(v[0], v[1], N, P);
  };
  GradCheckResult r = gradcheck(f, inputs);
  INFO(r.message);
  CHECK(r.ok);
  CHECK(r.checked > 100);
}
