#include "text_test_util.h"

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
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

std::string text_encoder_dir() {
  const char* env = std::getenv("ENGINE_TEXT_ENCODER_DIR");
  if (env != nullptr && *env != '\0') return env;
  return std::string(ENGINE_SOURCE_DIR) + "/build/text_encoder";
}

std::string text_encoder_dir_with(const std::string& file) {
  const std::string dir = text_encoder_dir();
  if (!std::filesystem::exists(dir + "/" + file)) {
    FAIL("no " << dir << "/" << file << ": fetch the text encoder with\n  scripts/fetch_text_encoder.sh " << dir
               << "\n(or set ENGINE_TEXT_ENCODER_DIR to a folder holding all-MiniLM-L6-v2)");
  }
  return dir;
}

}  // namespace engine::testing
