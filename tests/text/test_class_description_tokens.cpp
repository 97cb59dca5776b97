// Every shipped class description fits the text encoder's maximum sequence length,
// counted by the MiniLM WordPiece tokenizer with [CLS] and [SEP].
#include <catch2/catch.hpp>

#include "data/class_descriptions.h"
#include "text/wordpiece.h"
#include "text_test_util.h"

TEST_CASE("class descriptions fit the text encoder's maximum length", "[text]") {
  const std::string vocab_path = engine::testing::text_encoder_dir_with("vocab.txt") + "/vocab.txt";
  engine::text::TokenizerOptions options;
  options.max_length = 4096;  // far past any description: nothing is truncated
  const engine::text::WordPieceTokenizer tok(engine::text::Vocab::load(vocab_path), options);
  const auto count = [&](const std::string& s) { return int64_t(tok.encode(s).ids.size()); };
  for (const char* stem : {"fashion_mnist", "cifar10", "cifar100", "cifar100_coarse"}) {
    INFO(stem);
    const auto d =
        engine::data::load_class_descriptions(std::string(ENGINE_SOURCE_DIR) + "/configs/labels/" + stem + ".json");
    CHECK_NOTHROW(engine::data::check_token_lengths(d, count, 64));
  }
}
