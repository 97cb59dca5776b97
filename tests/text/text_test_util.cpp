#include "text_test_util.h"

#include <unistd.h>

#include <atomic>
#include <fstream>

#include "base/check.h"

namespace engine::testing {

ScratchDir::ScratchDir() {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          ("engine_text_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_text_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
  ENGINE_CHECK(f.good(), "cannot write " << path);
}

std::vector<std::string> small_vocab_tokens(const std::vector<std::string>& words) {
  std::vector<std::string> t = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  t.insert(t.end(), words.begin(), words.end());
  return t;
}

text::Vocab small_vocab() {
  return text::Vocab::from_tokens(
      small_vocab_tokens({"hello", "world", "un",  "##aff", "##able", "cafe", "naive", "zurich",    ",",
                          ".",     "!",     "?",   "'",     "-",      "$",    "«",     "»",         "日",
                          "本",    "a",     "##a", "##b",   "s",      "##s",  "i",     "##stanbul", "ᄒ",
                          "##ᅡ",  "##ᆫ",  "σ",   "##σ",   "ο",      "##δ",  "##ο"}),
      "test vocabulary");
}

}  // namespace engine::testing
