#include "engine/nn/transformer.h"

#include <cmath>

#include "engine/core/generator.h"
#include "engine/nn/init.h"

namespace engine::nn {

LayerNorm::LayerNorm(int64_t d, double e) : dim(d), eps(e) {
  ENGINE_CHECK(d > 0 && e > 0, "LayerNorm: dim and eps must be positive, got dim=" << d << ", eps=" << e);
  weight = register_parameter("weight", Tensor::ones({d}));
  bias = register_parameter("bias", Tensor::zeros({d}));
}

void LayerNorm::check_input(const Variable& x) const {
  ENGINE_CHECK(x.dim() >= 1 && x.size(-1) == dim,
               "LayerNorm(" << dim << "): expected input [..., " << dim << "], got " << shape_str(x.shape()));
}

Variable LayerNorm::forward_impl(const Variable& x) { return ag::layer_norm(x, weight, bias, eps); }

Embedding::Embedding(int64_t n, int64_t d) : num(n), dim(d) {
  ENGINE_CHECK(n > 0 && d > 0, "Embedding: sizes must be positive, got num=" << n << ", dim=" << d);
  weight = register_parameter("weight", init::normal({n, d}, 0.0, 1.0));
}

Variable Embedding::lookup(const Tensor& ids) {
  ENGINE_CHECK(ids.dtype() == DType::i64 || ids.dtype() == DType::i32,
               "Embedding(" << num << ", " << dim << "): ids must be i32 or i64, got " << dtype_name(ids.dtype()));
  return ag::embedding(weight, ids);
}

namespace {

// [B L, E] -> [B, H, L, D]
Variable split_heads(const Variable& x2d, const Variable& w, const Variable& b, int64_t B, int64_t L, int64_t H) {
  Variable y = ag::linear(x2d, w, b);
  y = ag::reshape(y, {B, L, H, y.size(1) / H});
  return ag::contiguous(ag::permute(y, {0, 2, 1, 3}));
}

Variable dropout_from_default_generator(const Variable& x, double p, bool training) {
  if (!training || p == 0) return x;
  Generator& g = default_generator();
  uint64_t off = g.take(uint64_t(x.numel()));
  return ag::dropout(x, p, true, g.seed(), off);
}

// Linear(E, F) - GELU - Linear(F, E) on [B, L, E].
Variable feed_forward(const Variable& x, const EncoderLayerWeights& w) {
  const int64_t B = x.size(0), L = x.size(1), E = x.size(2);
  Variable h = ag::gelu(ag::linear(ag::reshape(x, {B * L, E}), w.ffn1_w, w.ffn1_b));
  return ag::reshape(ag::linear(h, w.ffn2_w, w.ffn2_b), {B, L, E});
}

}  // namespace

Variable multi_head_attention(const Variable& x, const Tensor& key_mask, const AttentionWeights& w, int64_t num_heads) {
  ENGINE_CHECK(x.dim() == 3 && num_heads > 0 && x.size(2) % num_heads == 0,
               "multi_head_attention: expected x [B, L, E] with E a multiple of " << num_heads << " heads, got "
                                                                                  << shape_str(x.shape()));
  const int64_t B = x.size(0), L = x.size(1), E = x.size(2), D = E / num_heads;
  ENGINE_CHECK(!key_mask.defined() || (key_mask.dtype() == DType::u8 && key_mask.shape() == Shape{B, L}),
               "multi_head_attention: expected a u8 key_mask [" << B << ", " << L << "], got "
                                                                << dtype_name(key_mask.dtype()) << " "
                                                                << shape_str(key_mask.shape()));
  Variable x2d = ag::reshape(x, {B * L, E});
  Variable q = split_heads(x2d, w.wq, w.bq, B, L, num_heads);
  Variable k = split_heads(x2d, w.wk, w.bk, B, L, num_heads);
  Variable v = split_heads(x2d, w.wv, w.bv, B, L, num_heads);
  Variable ctx = ag::attention(q, k, v, key_mask, 1.0 / std::sqrt(double(D)));
  ctx = ag::reshape(ag::contiguous(ag::permute(ctx, {0, 2, 1, 3})), {B * L, E});
  return ag::reshape(ag::linear(ctx, w.wo, w.bo), {B, L, E});
}

Variable transformer_encoder_layer(const Variable& x, const Tensor& key_mask, const EncoderLayerWeights& w,
                                   const TransformerEncoderLayerOptions& o, bool training) {
  auto drop = [&](const Variable& y) { return dropout_from_default_generator(y, o.dropout, training); };
  auto norm = [&](const Variable& y, const Variable& g, const Variable& b) {
    return ag::layer_norm(y, g, b, o.layer_norm_eps);
  };
  if (o.pre_norm) {
    Variable h =
        ag::add(x, drop(multi_head_attention(norm(x, w.norm1_w, w.norm1_b), key_mask, w.attention, o.num_heads)));
    return ag::add(h, drop(feed_forward(norm(h, w.norm2_w, w.norm2_b), w)));
  }
  Variable h =
      norm(ag::add(x, drop(multi_head_attention(x, key_mask, w.attention, o.num_heads))), w.norm1_w, w.norm1_b);
  return norm(ag::add(h, drop(feed_forward(h, w))), w.norm2_w, w.norm2_b);
}

MultiHeadAttention::MultiHeadAttention(int64_t e, int64_t h) : embed_dim(e), num_heads(h) {
  ENGINE_CHECK(e > 0 && h > 0 && e % h == 0,
               "MultiHeadAttention: embed_dim " << e << " must be a positive multiple of num_heads " << h);
  query = register_module("self.query", std::make_shared<Linear>(e, e));
  key = register_module("self.key", std::make_shared<Linear>(e, e));
  value = register_module("self.value", std::make_shared<Linear>(e, e));
  out = register_module("output.dense", std::make_shared<Linear>(e, e));
}

void MultiHeadAttention::check_input(const Variable& x) const {
  ENGINE_CHECK(x.dim() == 3 && x.size(2) == embed_dim, type_name() << "(" << embed_dim << "): expected input [B, L, "
                                                                   << embed_dim << "], got " << shape_str(x.shape()));
}

AttentionWeights MultiHeadAttention::weights() const {
  return {query->weight, query->bias, key->weight, key->bias, value->weight, value->bias, out->weight, out->bias};
}

Variable MultiHeadAttention::forward(const Variable& x, const Tensor& key_mask) {
  check_input(x);
  return multi_head_attention(x, key_mask, weights(), num_heads);
}

TransformerEncoderLayer::TransformerEncoderLayer(const TransformerEncoderLayerOptions& o) : options(o) {
  ENGINE_CHECK(o.ffn_dim > 0 && o.dropout >= 0 && o.dropout < 1,
               "TransformerEncoderLayer: ffn_dim must be positive and dropout in [0, 1), got ffn_dim="
                   << o.ffn_dim << ", dropout=" << o.dropout);
  attention = register_module("attention", std::make_shared<MultiHeadAttention>(o.embed_dim, o.num_heads));
  attention_norm =
      register_module("attention.output.LayerNorm", std::make_shared<LayerNorm>(o.embed_dim, o.layer_norm_eps));
  intermediate = register_module("intermediate.dense", std::make_shared<Linear>(o.embed_dim, o.ffn_dim));
  output = register_module("output.dense", std::make_shared<Linear>(o.ffn_dim, o.embed_dim));
  output_norm = register_module("output.LayerNorm", std::make_shared<LayerNorm>(o.embed_dim, o.layer_norm_eps));
}

void TransformerEncoderLayer::check_input(const Variable& x) const {
  ENGINE_CHECK(x.dim() == 3 && x.size(2) == options.embed_dim,
               type_name() << "(" << options.embed_dim << "): expected input [B, L, " << options.embed_dim << "], got "
                           << shape_str(x.shape()));
}

EncoderLayerWeights TransformerEncoderLayer::weights() const {
  return {attention->weights(), attention_norm->weight, attention_norm->bias, intermediate->weight, intermediate->bias,
          output->weight,       output->bias,           output_norm->weight,  output_norm->bias};
}

Variable TransformerEncoderLayer::forward(const Variable& x, const Tensor& key_mask) {
  check_input(x);
  return transformer_encoder_layer(x, key_mask, weights(), options, is_training());
}

}  // namespace engine::nn
