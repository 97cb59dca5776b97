#pragma once
// Sentence embeddings from a BERT text encoder such as all-MiniLM-L6-v2, as
// sentence-transformers computes them: WordPiece ids (text/wordpiece.h), the BERT
// encoder (models/bert.h), the mean of the last hidden states over the real tokens
// (attention mask), L2-normalised.
#include <memory>
#include <string>
#include <vector>

#include "models/bert.h"
#include "text/wordpiece.h"

namespace engine::app {

struct TextEncoderOptions {
  std::string model_dir;  // config.json, model.safetensors, vocab.txt
  Device device = Device::cpu();
  DType precision = DType::f32;  // f32, or bf16 (autocast: GEMMs in bf16)
  int64_t max_length = 256;      // tokens per text, [CLS] and [SEP] included
  int64_t batch_size = 32;       // texts per forward pass
};

class TextEncoder {
 public:
  // Loads and checks the folder: its files present, config.json a BERT, vocab.txt as
  // many lines as the embedding has rows. Errors name the file.
  explicit TextEncoder(const TextEncoderOptions& options);
  // [N, H] f32 on the CPU, each row of unit length; N = texts.size() >= 1.
  Tensor encode(const std::vector<std::string>& texts);
  int64_t dim() const { return model_->config.hidden_size; }
  const text::WordPieceTokenizer& tokenizer() const { return *tokenizer_; }
  models::BertModel& model() { return *model_; }

 private:
  Tensor encode_batch(const std::vector<text::Encoding>& rows);
  TextEncoderOptions options_;
  std::unique_ptr<text::WordPieceTokenizer> tokenizer_;
  std::shared_ptr<models::BertModel> model_;
};

// Mean of hidden [B, L, H] over the positions where mask (u8 [B, L]) is nonzero, then
// each row divided by its L2 norm; computed in f32 -> [B, H].
Variable mean_pool_normalize(const Variable& hidden, const Tensor& mask);

}  // namespace engine::app
