#pragma once
// The modules of a transformer encoder (BERT and its kin). Child modules are named with
// the Hugging Face BERT paths ("attention.self.query", "attention.output.LayerNorm",
// "intermediate.dense", ...), so that the state dict of a TransformerEncoderLayer is that
// of a BertLayer and pretrained weights load with no renaming table.
// Hidden states are [B, L, E]; a key mask is u8 [B, L], nonzero = a real token.
#include <memory>

#include "engine/nn/layers.h"

namespace engine::nn {

// The layers as functions of their weights (the modules below call them with their
// parameters; the gradient tests call them with their own leaves).
struct AttentionWeights {
  Variable wq, bq, wk, bk, wv, bv, wo, bo;  // [E, E] and [E] each
};
// Self-attention of x [B, L, E] over num_heads heads; key_mask u8 [B, L].
Variable multi_head_attention(const Variable& x, const Tensor& key_mask, const AttentionWeights& w, int64_t num_heads);
struct EncoderLayerWeights {
  AttentionWeights attention;
  Variable norm1_w, norm1_b;  // [E]: after (post-LN) or before (pre-LN) attention
  Variable ffn1_w, ffn1_b;    // [F, E], [F]
  Variable ffn2_w, ffn2_b;    // [E, F], [E]
  Variable norm2_w, norm2_b;  // [E]
};
struct TransformerEncoderLayerOptions {
  int64_t embed_dim = 0, num_heads = 0, ffn_dim = 0;
  double layer_norm_eps = 1e-12;
  double dropout = 0.0;  // on each sublayer's output, in training only
  // false (BERT): x = LN(x + attn(x)); x = LN(x + FFN(x)).
  // true: x = x + attn(LN(x)); x = x + FFN(LN(x)).
  bool pre_norm = false;
};
// One encoder layer; dropout (from the default generator) only when `training`.
Variable transformer_encoder_layer(const Variable& x, const Tensor& key_mask, const EncoderLayerWeights& w,
                                   const TransformerEncoderLayerOptions& options, bool training);

// Normalises over the last dim: (x - mean) / sqrt(var + eps) * weight + bias.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5);
  std::string type_name() const override { return "LayerNorm"; }
  Variable weight, bias;  // [dim], ones and zeros
  int64_t dim;
  double eps;

 protected:
  void check_input(const Variable& x) const override;
  Variable forward_impl(const Variable& x) override;
};

// A lookup table: ids (i32 or i64, any shape, each in [0, num)) -> rows [ids..., dim].
class Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim);
  std::string type_name() const override { return "Embedding"; }
  Variable lookup(const Tensor& ids);
  Variable weight;  // [num, dim], N(0, 1) as torch.nn.Embedding
  int64_t num, dim;

 protected:
  // x holds the ids (no gradient).
  Variable forward_impl(const Variable& x) override { return lookup(x.data()); }
};

// Multi-head self-attention with the projections of BERT: children "self.query",
// "self.key", "self.value" and "output.dense" (each Linear(E, E)).
class MultiHeadAttention : public Module {
 public:
  MultiHeadAttention(int64_t embed_dim, int64_t num_heads);
  std::string type_name() const override { return "MultiHeadAttention"; }
  using Module::forward;
  // x [B, L, E]; key_mask u8 [B, L] (undefined: every position attends).
  Variable forward(const Variable& x, const Tensor& key_mask);
  AttentionWeights weights() const;
  std::shared_ptr<Linear> query, key, value, out;
  int64_t embed_dim, num_heads;

 protected:
  void check_input(const Variable& x) const override;
  Variable forward_impl(const Variable& x) override { return forward(x, Tensor()); }
};

// One encoder layer; FFN = Linear(E, F) - GELU (erf) - Linear(F, E). Children as in
// BertLayer: "attention" (MultiHeadAttention), "attention.output.LayerNorm",
// "intermediate.dense", "output.dense", "output.LayerNorm".
class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(const TransformerEncoderLayerOptions& options);
  std::string type_name() const override { return "TransformerEncoderLayer"; }
  using Module::forward;
  Variable forward(const Variable& x, const Tensor& key_mask);
  EncoderLayerWeights weights() const;
  TransformerEncoderLayerOptions options;
  std::shared_ptr<MultiHeadAttention> attention;
  std::shared_ptr<LayerNorm> attention_norm, output_norm;
  std::shared_ptr<Linear> intermediate, output;

 protected:
  void check_input(const Variable& x) const override;
  Variable forward_impl(const Variable& x) override { return forward(x, Tensor()); }
};

}  // namespace engine::nn
