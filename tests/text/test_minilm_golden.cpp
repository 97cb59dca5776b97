// Parity with the reference tokenizer of all-MiniLM-L6-v2: the ids of every text in
// tests/golden/minilm_tokens.json (written by tests/golden/make_minilm_golden.py).
// The vocabulary comes from the model folder that scripts/fetch_text_encoder.sh fills:
// $ENGINE_TEXT_ENCODER_DIR, or else build/text_encoder in the source tree (scripts/test.sh
// fetches it there). Without it the test fails, naming the command.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "text/wordpiece.h"
#include "text_test_util.h"

TEST_CASE("minilm golden: token ids equal the reference tokenizer's for every text", "[text]") {
  const std::string vocab_path = engine::testing::text_encoder_dir_with("vocab.txt") + "/vocab.txt";
  std::ifstream f(std::string(ENGINE_SOURCE_DIR) + "/tests/golden/minilm_tokens.json");
  REQUIRE(f.good());
  const nlohmann::json golden = nlohmann::json::parse(f);
  engine::text::TokenizerOptions options;
  options.max_length = golden.at("max_length").get<int64_t>();
  const engine::text::WordPieceTokenizer tok(engine::text::Vocab::load(vocab_path), options);
  REQUIRE(tok.vocab().size() == 30522);
  const auto& cases = golden.at("cases");
  REQUIRE(cases.size() >= 30);
  std::vector<std::string> texts;
  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    const auto expected = c.at("ids").get<std::vector<int32_t>>();
    INFO("text: " << text);
    const auto e = tok.encode(text);
    CHECK(e.ids == expected);
    CHECK(e.attention_mask == std::vector<int32_t>(expected.size(), 1));
    texts.push_back(text);
  }
  // The batch holds the same rows, padded to the longest.
  const auto b = tok.encode_batch(texts);
  REQUIRE(b.batch == static_cast<int64_t>(cases.size()));
  CHECK(b.length == options.max_length);
  for (size_t r = 0; r < cases.size(); ++r) {
    const auto expected = cases[r].at("ids").get<std::vector<int32_t>>();
    const auto row = b.ids.begin() + static_cast<std::ptrdiff_t>(r * b.length);
    CHECK(std::vector<int32_t>(row, row + static_cast<std::ptrdiff_t>(expected.size())) == expected);
  }
}
