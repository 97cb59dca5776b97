#pragma once
// Small helpers of the tokenizer tests: a scratch folder and a hand-made vocabulary.
#include <filesystem>
#include <string>
#include <vector>

#include "text/vocab.h"

namespace engine::testing {

class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void write_text_file(const std::string& path, const std::string& bytes);
// The special tokens first ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4), then `words`.
std::vector<std::string> small_vocab_tokens(const std::vector<std::string>& words);
text::Vocab small_vocab();

// The folder of all-MiniLM-L6-v2 (scripts/fetch_text_encoder.sh): $ENGINE_TEXT_ENCODER_DIR,
// or else build/text_encoder in the source tree (scripts/test.sh fetches it there).
std::string text_encoder_dir();
// text_encoder_dir() when `file` is in it; otherwise the test fails, naming the command
// that fetches the model.
std::string text_encoder_dir_with(const std::string& file);

}  // namespace engine::testing
