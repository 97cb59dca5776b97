#include <catch2/catch.hpp>

#include "text/wordpiece.h"
#include "text_test_util.h"

using Catch::Contains;
using engine::text::TokenizerOptions;
using engine::text::WordPieceTokenizer;
using Pieces = std::vector<std::string>;

namespace {

WordPieceTokenizer small_tokenizer(TokenizerOptions o = {}) {
  return WordPieceTokenizer(engine::testing::small_vocab(), o);
}

}  // namespace

TEST_CASE("wordpiece: words, punctuation and continuation pieces", "[text]") {
  const WordPieceTokenizer tok = small_tokenizer();
  CHECK(tok.tokenize("Hello, World!") == Pieces{"hello", ",", "world", "!"});
  CHECK(tok.tokenize("unaffable") == Pieces{"un", "##aff", "##able"});
  CHECK(tok.tokenize("hello's") == Pieces{"hello", "'", "s"});
  CHECK(tok.tokenize("hellos") == Pieces{"hello", "##s"});
  CHECK(tok.tokenize("helloz") == Pieces{"[UNK]"});  // no piece covers "z": the whole word is [UNK]
  CHECK(tok.tokenize("as") == Pieces{"a", "##s"});
  CHECK(tok.tokenize("world-hello") == Pieces{"world", "-", "hello"});
  CHECK(tok.tokenize("$hello?!") == Pieces{"$", "hello", "?", "!"});
  CHECK(tok.tokenize("«hello»") == Pieces{"«", "hello", "»"});
}

TEST_CASE("wordpiece: a word without a full cover is one [UNK]", "[text]") {
  const WordPieceTokenizer tok = small_tokenizer();
  CHECK(tok.tokenize("unaffablex hello") == Pieces{"[UNK]", "hello"});
  CHECK(tok.tokenize("zebra") == Pieces{"[UNK]"});
  CHECK(tok.tokenize("#") == Pieces{"[UNK]"});
}

TEST_CASE("wordpiece: lower-casing and accent stripping", "[text]") {
  CHECK(small_tokenizer().tokenize("Café NAÏVE Zürich") == Pieces{"cafe", "naive", "zurich"});
  CHECK(small_tokenizer().tokenize("cafe\u0301") == Pieces{"cafe"});  // a combining mark of its own
  CHECK(small_tokenizer().tokenize("\u0130stanbul") == Pieces{"i", "##stanbul"});
  CHECK(small_tokenizer().tokenize("ΟΔΟΣ") == Pieces{"ο", "##δ", "##ο", "##σ"});
  CHECK(small_tokenizer().tokenize("한") == Pieces{"ᄒ", "##ᅡ", "##ᆫ"});
  TokenizerOptions cased;
  cased.lower_case = false;
  cased.strip_accents = false;
  CHECK(small_tokenizer(cased).tokenize("Hello café") == Pieces{"[UNK]", "[UNK]"});
  CHECK(small_tokenizer(cased).tokenize("hello cafe") == Pieces{"hello", "cafe"});
}

TEST_CASE("wordpiece: CJK ideographs are words of their own", "[text]") {
  const WordPieceTokenizer tok = small_tokenizer();
  CHECK(tok.tokenize("日本") == Pieces{"日", "本"});
  CHECK(tok.tokenize("hello日本world") == Pieces{"hello", "日", "本", "world"});
  CHECK(tok.tokenize("日本語") == Pieces{"日", "本", "[UNK]"});
  TokenizerOptions no_split;
  no_split.split_cjk = false;
  CHECK(small_tokenizer(no_split).tokenize("日本") == Pieces{"[UNK]"});
}

TEST_CASE("wordpiece: control characters, invalid bytes and whitespace", "[text]") {
  const WordPieceTokenizer tok = small_tokenizer();
  CHECK(tok.tokenize("hel\x01lo") == Pieces{"hello"});
  CHECK(tok.tokenize(std::string("hel\0lo", 6)) == Pieces{"hello"});
  CHECK(tok.tokenize("\xFF\xFEhel\xC3lo\xE6") == Pieces{"hello"});
  CHECK(tok.tokenize("hel\xEF\xBF\xBDlo") == Pieces{"hello"});  // U+FFFD itself
  CHECK(tok.tokenize("hel\u00ADlo wor\u200Dld") == Pieces{"hello", "world"});
  CHECK(tok.tokenize("hello\tworld\r\nhello\n") == Pieces{"hello", "world", "hello"});
  CHECK(tok.tokenize("hello\x0Bworld") == Pieces{"[UNK]"});  // \v is a control character: removed, not a space
  CHECK(tok.tokenize("hello\u00A0world\u3000hello") == Pieces{"hello", "world", "hello"});
  CHECK(tok.tokenize("hello\u2028world\u2029hello") == Pieces{"hello", "world", "hello"});
  CHECK(tok.tokenize("").empty());
  CHECK(tok.tokenize(" \t\n\r ").empty());
  CHECK(tok.tokenize("\x01\x02").empty());
}

TEST_CASE("wordpiece: words longer than max_word_chars are [UNK]", "[text]") {
  const WordPieceTokenizer tok = small_tokenizer();
  Pieces hundred{"a"};
  hundred.insert(hundred.end(), 99, "##a");
  CHECK(tok.tokenize(std::string(100, 'a')) == hundred);
  CHECK(tok.tokenize(std::string(101, 'a')) == Pieces{"[UNK]"});
  TokenizerOptions o;
  o.max_word_chars = 3;
  CHECK(small_tokenizer(o).tokenize("aaa aaaa") == Pieces{"a", "##a", "##a", "[UNK]"});
}

TEST_CASE("wordpiece: literal special tokens are kept, case-sensitive", "[text]") {
  const WordPieceTokenizer tok = small_tokenizer();
  CHECK(tok.tokenize("hello [SEP] world") == Pieces{"hello", "[SEP]", "world"});
  CHECK(tok.tokenize("hello[MASK]world[CLS]") == Pieces{"hello", "[MASK]", "world", "[CLS]"});
  CHECK(tok.tokenize("[sep]") == Pieces{"[UNK]", "[UNK]", "[UNK]"});  // "[", "sep", "]": none in the vocabulary
}

TEST_CASE("wordpiece: encode adds [CLS] and [SEP] and truncates to max_length", "[text]") {
  TokenizerOptions o;
  o.max_length = 5;
  const WordPieceTokenizer tok = small_tokenizer(o);
  const int32_t cls = 2, sep = 3, hello = 5, world = 6;
  auto e = tok.encode("hello world");
  CHECK(e.ids == std::vector<int32_t>{cls, hello, world, sep});
  CHECK(e.attention_mask == std::vector<int32_t>{1, 1, 1, 1});
  e = tok.encode("hello world hello world");
  CHECK(e.ids == std::vector<int32_t>{cls, hello, world, hello, sep});
  CHECK(e.attention_mask.size() == 5);
  e = tok.encode("");
  CHECK(e.ids == std::vector<int32_t>{cls, sep});
  o.max_length = 1;
  CHECK_THROWS_WITH(small_tokenizer(o), Contains("max_length must be at least 2"));
}

TEST_CASE("wordpiece: encode_batch pads with [PAD] and mask 0", "[text]") {
  const WordPieceTokenizer tok = small_tokenizer();
  const int32_t pad = 0, cls = 2, sep = 3, hello = 5, world = 6;
  auto b = tok.encode_batch({"hello world", "", "hello"});
  CHECK(b.batch == 3);
  CHECK(b.length == 4);
  CHECK(b.ids == std::vector<int32_t>{cls, hello, world, sep, cls, sep, pad, pad, cls, hello, sep, pad});
  CHECK(b.attention_mask == std::vector<int32_t>{1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0});
  b = tok.encode_batch({"hello world", "hello"}, 3);
  CHECK(b.length == 3);
  CHECK(b.ids == std::vector<int32_t>{cls, hello, sep, cls, hello, sep});
  b = tok.encode_batch({"hello"}, 6);
  CHECK(b.ids == std::vector<int32_t>{cls, hello, sep, pad, pad, pad});
  CHECK(b.attention_mask == std::vector<int32_t>{1, 1, 1, 0, 0, 0});
  b = tok.encode_batch({});
  CHECK(b.batch == 0);
  CHECK(b.ids.empty());
  CHECK_THROWS_WITH(tok.encode_batch({"x"}, 1), Contains("pad_to must be 0"));
}
