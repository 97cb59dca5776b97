#include "apps/common/text_encoder.h"

#include <algorithm>
#include <filesystem>
#include <numeric>

#include "engine/autograd/autocast.h"

namespace engine::app {

namespace {

std::string require_file(const std::string& dir, const char* name) {
  const std::string path = (std::filesystem::path(dir) / name).string();
  ENGINE_CHECK(std::filesystem::is_regular_file(path),
               "text encoder: " << path << " is missing (scripts/fetch_text_encoder.sh DIR puts the model there)");
  return path;
}

}  // namespace

TextEncoder::TextEncoder(const TextEncoderOptions& options) : options_(options) {
  ENGINE_CHECK(!options.model_dir.empty(),
               "text encoder: no model folder given (--model DIR or "
               "ENGINE_TEXT_ENCODER_DIR; scripts/fetch_text_encoder.sh DIR fills one)");
  ENGINE_CHECK(std::filesystem::is_directory(options.model_dir),
               "text encoder: the model folder " << options.model_dir
                                                 << " does not exist (scripts/fetch_text_encoder.sh DIR fills one)");
  ENGINE_CHECK(options.precision == DType::f32 || options.precision == DType::bf16,
               "text encoder: precision must be f32 or bf16, got " << dtype_name(options.precision));
  ENGINE_CHECK(options.batch_size >= 1 && options.max_length >= 2,
               "text encoder: batch_size must be >= 1 and max_length >= 2");
  const std::string vocab_path = require_file(options.model_dir, "vocab.txt");
  require_file(options.model_dir, "config.json");
  require_file(options.model_dir, "model.safetensors");
  text::TokenizerOptions t;
  t.max_length = options.max_length;
  tokenizer_ = std::make_unique<text::WordPieceTokenizer>(text::Vocab::load(vocab_path), t);
  model_ = models::load_bert(options.model_dir);
  ENGINE_CHECK(tokenizer_->vocab().size() == model_->config.vocab_size,
               vocab_path << " holds " << tokenizer_->vocab().size() << " tokens, but the model's word embedding has "
                          << model_->config.vocab_size
                          << " rows (config.json vocab_size): not this model's vocabulary");
  ENGINE_CHECK(options.max_length <= model_->config.max_position_embeddings,
               "text encoder: max_length " << options.max_length << " is more than the model's "
                                           << model_->config.max_position_embeddings << " positions");
  model_->to(options.device);
}

Variable mean_pool_normalize(const Variable& hidden, const Tensor& mask) {
  Variable h = ag::cast(hidden, DType::f32);
  Tensor m = mask.to(DType::f32).reshape({mask.size(0), mask.size(1), 1});
  Variable summed = ag::sum(ag::mul(h, Variable(m)), {1});
  Tensor count = ops::clamp(ops::sum(m, {1}), 1e-9, 1e30);
  Variable mean = ag::div(summed, Variable(count));
  Variable norm = ag::sqrt(ag::sum(ag::mul(mean, mean), {1}, true));
  return ag::div(mean, ag::clamp(norm, 1e-12, 1e30));
}

// Padded to the longest row, then one forward pass.
Tensor TextEncoder::encode_batch(const std::vector<text::Encoding>& rows) {
  const int64_t B = int64_t(rows.size());
  int64_t L = 0;
  for (const auto& r : rows) L = std::max<int64_t>(L, int64_t(r.ids.size()));
  std::vector<int64_t> ids(size_t(B * L), 0);
  std::vector<uint8_t> mask(size_t(B * L), 0);
  for (int64_t b = 0; b < B; ++b)
    for (size_t i = 0; i < rows[size_t(b)].ids.size(); ++i) {
      ids[size_t(b * L) + i] = rows[size_t(b)].ids[i];
      mask[size_t(b * L) + i] = 1;
    }
  Tensor ids_t = Tensor::from_data(ids.data(), {B, L}).to(options_.device);
  Tensor mask_t = Tensor::from_data(mask.data(), {B, L}).to(options_.device);
  NoGradGuard no_grad;
  AutocastGuard autocast(options_.precision);
  Variable hidden = model_->forward(ids_t, mask_t);
  return mean_pool_normalize(hidden, mask_t).data().to(Device::cpu());
}

Tensor TextEncoder::encode(const std::vector<std::string>& texts) {
  ENGINE_CHECK(!texts.empty(), "text encoder: no texts to encode");
  std::vector<text::Encoding> enc;
  enc.reserve(texts.size());
  for (const auto& t : texts) enc.push_back(tokenizer_->encode(t));
  // Longest first, as sentence-transformers batches: less padding per batch.
  std::vector<size_t> order(texts.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return enc[a].ids.size() > enc[b].ids.size(); });
  Tensor out = Tensor::empty({int64_t(texts.size()), dim()});
  for (size_t start = 0; start < order.size(); start += size_t(options_.batch_size)) {
    const size_t end = std::min(order.size(), start + size_t(options_.batch_size));
    std::vector<text::Encoding> rows;
    for (size_t i = start; i < end; ++i) rows.push_back(enc[order[i]]);
    Tensor y = encode_batch(rows);
    for (size_t i = start; i < end; ++i)
      out.slice(0, int64_t(order[i]), int64_t(order[i]) + 1)
          .copy_from(y.slice(0, int64_t(i - start), int64_t(i - start) + 1));
  }
  return out;
}

}  // namespace engine::app
