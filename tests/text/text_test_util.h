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

}  // namespace engine::testing
