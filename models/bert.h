#pragma once
// BERT's encoder (embeddings + N post-LN transformer layers, no pooler) with the
// Hugging Face state-dict names ("embeddings.word_embeddings.weight",
// "encoder.layer.0.attention.self.query.weight", ...), so that a BertModel checkpoint
// such as all-MiniLM-L6-v2's model.safetensors loads as it is.
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/transformer.h"

namespace engine::models {

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 384;
  int64_t num_hidden_layers = 6;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 1536;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  double hidden_dropout_prob = 0.1;  // training only
  // Reads a Hugging Face config.json. A model that is not BERT (model_type), another
  // activation than "gelu", relative position embeddings, or a key that is missing or out
  // of range is an error naming the file and the key.
  static BertConfig from_json_file(const std::string& path);
  void validate() const;  // throws naming the bad value
};

class BertEmbeddings : public nn::Module {
 public:
  explicit BertEmbeddings(const BertConfig& c);
  std::string type_name() const override { return "BertEmbeddings"; }
  // ids, token_types i64 [B, L] (token_types undefined: all 0) -> [B, L, H]
  Variable embed(const Tensor& ids, const Tensor& token_types);
  std::shared_ptr<nn::Embedding> word, position, token_type;
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Dropout> dropout;  // no parameters: nothing in the state dict

 protected:
  Variable forward_impl(const Variable& x) override { return embed(x.data(), Tensor()); }
};

class BertModel : public nn::Module {
 public:
  explicit BertModel(const BertConfig& c);
  std::string type_name() const override { return "BertModel"; }
  using nn::Module::forward;
  // ids i64 [B, L] (each in [0, vocab_size)), attention_mask u8 [B, L] (nonzero = a
  // real token; undefined = all), token_types i64 [B, L] or undefined -> the last hidden
  // states [B, L, H].
  Variable forward(const Tensor& ids, const Tensor& attention_mask, const Tensor& token_types = Tensor());
  BertConfig config;
  std::shared_ptr<BertEmbeddings> embeddings;
  std::vector<std::shared_ptr<nn::TransformerEncoderLayer>> layers;  // children "encoder.layer.<i>"

 protected:
  void check_input(const Variable& x) const override;
  Variable forward_impl(const Variable& x) override { return forward(x.data(), Tensor()); }
};

// Copies the weights of a BertModel checkpoint in `path` into `model` (converted to the
// model's dtype). The names may carry a common prefix ("bert.", "0.auto_model.", ...),
// found from the word embeddings; "pooler.*" and "embeddings.position_ids" are ignored.
// A missing tensor, a shape that disagrees with the model, or another tensor under the
// prefix is an error naming the file and the key.
void load_bert_weights(BertModel& model, const std::string& path);

// config.json and model.safetensors of a model folder, checked and loaded on the CPU.
std::shared_ptr<BertModel> load_bert(const std::string& dir);

}  // namespace engine::models
