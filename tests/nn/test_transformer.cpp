// The transformer encoder's modules (engine/nn/transformer.h), built on the transformer
// ops (ag::layer_norm, ag::attention, ag::embedding; their own tests are in tests/ops):
// gradient checks in f64 (hidden 8, 2 heads, 2 layers), padding masks, freezing,
// state-dict names.
#include <set>

#include "engine/core/generator.h"
#include "engine/nn/transformer.h"
#include "test_util.h"

using namespace engine;
using testing::randn64;

namespace {

constexpr int64_t kB = 2, kL = 3, kE = 8, kHeads = 2, kF = 16;

// Batch row 0 has 3 real tokens, row 1 has 2 and one padding position.
Tensor padding_mask() { return Tensor::from_vector({1, 1, 1, 1, 1, 0}, {kB, kL}, DType::u8); }

// The weights of one layer as gradcheck inputs (16 tensors), from `seed`.
std::vector<Tensor> layer_inputs(uint64_t seed) {
  std::vector<Tensor> in;
  for (int i = 0; i < 4; ++i) {
    in.push_back(randn64({kE, kE}, seed + 2 * i, 0.0, 0.4));
    in.push_back(randn64({kE}, seed + 2 * i + 1, 0.0, 0.1));
  }
  in.push_back(randn64({kE}, seed + 20, 1.0, 0.1));
  in.push_back(randn64({kE}, seed + 21, 0.0, 0.1));
  in.push_back(randn64({kF, kE}, seed + 22, 0.0, 0.4));
  in.push_back(randn64({kF}, seed + 23, 0.0, 0.1));
  in.push_back(randn64({kE, kF}, seed + 24, 0.0, 0.3));
  in.push_back(randn64({kE}, seed + 25, 0.0, 0.1));
  in.push_back(randn64({kE}, seed + 26, 1.0, 0.1));
  in.push_back(randn64({kE}, seed + 27, 0.0, 0.1));
  return in;
}

nn::EncoderLayerWeights layer_weights(const std::vector<Variable>& v, size_t at) {
  nn::AttentionWeights a{v[at], v[at + 1], v[at + 2], v[at + 3], v[at + 4], v[at + 5], v[at + 6], v[at + 7]};
  return {a, v[at + 8], v[at + 9], v[at + 10], v[at + 11], v[at + 12], v[at + 13], v[at + 14], v[at + 15]};
}

nn::TransformerEncoderLayerOptions layer_options(bool pre_norm) {
  nn::TransformerEncoderLayerOptions o;
  o.embed_dim = kE;
  o.num_heads = kHeads;
  o.ffn_dim = kF;
  o.layer_norm_eps = 1e-5;
  o.pre_norm = pre_norm;
  return o;
}

}  // namespace

TEST_CASE("LayerNorm equals the definition over the last dim", "[transformer]") {
  nn::LayerNorm ln(5, 1e-12);
  ln.weight.data() = Tensor::full({5}, 2.0, DType::f64);
  ln.bias.data() = Tensor::full({5}, 0.5, DType::f64);
  Tensor x = randn64({2, 5}, 4, 3.0, 2.0);
  std::vector<double> xv = x.to_vector(), yv = ln(Variable(x)).data().to_vector();
  for (int r = 0; r < 2; ++r) {
    double mean = 0, var = 0;
    for (int c = 0; c < 5; ++c) mean += xv[size_t(r * 5 + c)] / 5;
    for (int c = 0; c < 5; ++c) var += (xv[size_t(r * 5 + c)] - mean) * (xv[size_t(r * 5 + c)] - mean) / 5;
    for (int c = 0; c < 5; ++c)
      CHECK(yv[size_t(r * 5 + c)] ==
            Approx(2.0 * (xv[size_t(r * 5 + c)] - mean) / std::sqrt(var) + 0.5).epsilon(1e-10));
  }
}

TEST_CASE("Embedding: rows by id, the table's gradient adds repeated ids", "[transformer]") {
  manual_seed(2);
  nn::Embedding emb(5, 4);
  for (DType dt : {DType::i64, DType::i32}) {
    Tensor ids = Tensor::from_vector({3, 0, 3, 1, 4, 3}, {2, 3}, dt);
    Variable y = emb.lookup(ids);
    REQUIRE(y.shape() == Shape{2, 3, 4});
    CHECK(testing::normalized_error(y.data().slice(0, 1, 2).slice(1, 2, 3).reshape({4}),
                                    emb.weight.data().slice(0, 3, 4).reshape({4})) == 0);
    emb.zero_grad();
    ag::sum(y).backward();
    std::vector<double> g = emb.weight.grad().to_vector();
    const double per_row[5] = {1, 1, 0, 3, 1};
    for (int r = 0; r < 5; ++r)
      for (int c = 0; c < 4; ++c) CHECK(g[size_t(r * 4 + c)] == per_row[r]);
  }
}

TEST_CASE("multi-head attention: gradients of x and all projections", "[grad][transformer]") {
  Tensor mask = padding_mask();
  std::vector<Tensor> in = layer_inputs(30);
  in.resize(8);
  in.insert(in.begin(), randn64({kB, kL, kE}, 13));
  auto f = [&](const std::vector<Variable>& v) {
    nn::AttentionWeights w{v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]};
    return nn::multi_head_attention(v[0], mask, w, kHeads);
  };
  CHECK_GRAD(OpKind::ATTENTION, f, in);
}

TEST_CASE("two encoder layers, post-LN and pre-LN: gradients of x and every weight", "[grad][transformer]") {
  Tensor mask = padding_mask();
  for (bool pre_norm : {false, true}) {
    INFO((pre_norm ? "pre-LN" : "post-LN"));
    std::vector<Tensor> in{randn64({kB, kL, kE}, 14)};
    for (uint64_t seed : {100, 200})
      for (Tensor& t : layer_inputs(seed)) in.push_back(t);
    auto f = [&](const std::vector<Variable>& v) {
      Variable h = nn::transformer_encoder_layer(v[0], mask, layer_weights(v, 1), layer_options(pre_norm), false);
      return nn::transformer_encoder_layer(h, mask, layer_weights(v, 17), layer_options(pre_norm), false);
    };
    GradCheckOptions options;
    options.tol = 1e-5;
    CHECK_GRAD(OpKind::GELU, f, in, options);
  }
}

TEST_CASE("TransformerEncoderLayer: BERT names, masked positions do not reach the others", "[transformer]") {
  manual_seed(3);
  nn::TransformerEncoderLayer layer(layer_options(false));
  std::set<std::string> names;
  for (auto& [n, p] : layer.named_parameters()) names.insert(n);
  for (const char* n : {"attention.self.query.weight", "attention.self.key.bias", "attention.self.value.weight",
                        "attention.output.dense.weight", "attention.output.LayerNorm.weight",
                        "intermediate.dense.weight", "output.dense.bias", "output.LayerNorm.bias"})
    CHECK(names.count(n) == 1);
  CHECK(names.size() == 16);
  layer.eval();
  Tensor x = ops::randn({kB, kL, kE}, 5, 0);
  Tensor x2 = x.clone();
  x2.slice(0, 1, 2).slice(1, 2, 3).fill_(7.0);  // the padded token of row 1
  Tensor y = layer.forward(Variable(x), padding_mask()).data();
  Tensor y2 = layer.forward(Variable(x2), padding_mask()).data();
  CHECK(testing::normalized_error(y2.slice(0, 1, 2).slice(1, 0, 2), y.slice(0, 1, 2).slice(1, 0, 2)) < 1e-6);
  CHECK(testing::normalized_error(y2.slice(0, 0, 1), y.slice(0, 0, 1)) == 0);
}

TEST_CASE("TransformerEncoderLayer: post-LN and pre-LN wire their children as documented", "[transformer]") {
  Tensor mask = padding_mask();
  Variable x(randn64({kB, kL, kE}, 15));
  for (bool pre_norm : {false, true}) {
    INFO((pre_norm ? "pre-LN" : "post-LN"));
    manual_seed(5);
    nn::TransformerEncoderLayer layer(layer_options(pre_norm));
    for (auto& [n, p] : layer.named_parameters())
      p.data() = ops::randn(p.shape(), 40, 0, DType::f64, Device::cpu(), 0.5, 0.3);
    auto ffn = [&](const Variable& h) {
      Variable y = ag::gelu(layer.intermediate->forward(ag::reshape(h, {kB * kL, kE})));
      return ag::reshape(layer.output->forward(y), {kB, kL, kE});
    };
    Variable expected;
    if (pre_norm) {
      Variable h = ag::add(x, layer.attention->forward(layer.attention_norm->forward(x), mask));
      expected = ag::add(h, ffn(layer.output_norm->forward(h)));
    } else {
      Variable h = layer.attention_norm->forward(ag::add(x, layer.attention->forward(x, mask)));
      expected = layer.output_norm->forward(ag::add(h, ffn(h)));
    }
    CHECK(testing::normalized_error(layer.forward(x, mask).data(), expected.data()) < 1e-14);
  }
}

TEST_CASE("a frozen module's parameters get no gradient, the others do", "[transformer]") {
  manual_seed(4);
  nn::TransformerEncoderLayer layer(layer_options(true));
  layer.attention->freeze();
  Variable x(ops::randn({kB, kL, kE}, 6, 0), true);
  ag::sum(layer.forward(x, padding_mask())).backward();
  for (auto& [n, p] : layer.named_parameters()) {
    INFO(n);
    const bool frozen = n.rfind("attention.self.", 0) == 0 || n.rfind("attention.output.dense.", 0) == 0;
    CHECK(p.requires_grad() == !frozen);
    CHECK(p.has_grad() == !frozen);
  }
  CHECK(x.has_grad());
  // Unfreezing brings the gradients back; freezing drops one already there.
  layer.attention->unfreeze();
  ag::sum(layer.forward(x, padding_mask())).backward();
  CHECK(layer.attention->query->weight.has_grad());
  layer.freeze();
  CHECK_FALSE(layer.attention->query->weight.has_grad());
  for (auto& [n, p] : layer.named_parameters()) CHECK_FALSE(p.requires_grad());
}

TEST_CASE("transformer modules refuse bad shapes with a message", "[transformer]") {
  CHECK_THROWS_WITH(nn::MultiHeadAttention(10, 3), Catch::Contains("multiple of num_heads 3"));
  nn::LayerNorm ln(4);
  CHECK_THROWS_WITH(ln(Variable(Tensor::zeros({2, 5}))), Catch::Contains("expected input [..., 4]"));
  nn::MultiHeadAttention mha(8, 2);
  CHECK_THROWS_WITH(mha.forward(Variable(Tensor::zeros({2, 3, 8})), Tensor::ones({2, 4}, DType::u8)),
                    Catch::Contains("u8 key_mask [2, 3]"));
  nn::Embedding emb(5, 3);
  CHECK_THROWS_WITH(emb.lookup(Tensor::zeros({2}, DType::f32)), Catch::Contains("ids must be i32 or i64"));
}
