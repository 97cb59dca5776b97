#include <catch2/catch.hpp>

#include "text/vocab.h"
#include "text_test_util.h"

using Catch::Contains;
using engine::text::Vocab;
namespace t = engine::testing;

TEST_CASE("vocab: ids are line numbers, special tokens are found", "[text]") {
  t::ScratchDir dir;
  t::write_text_file(dir.file("vocab.txt"), "[PAD]\n[unused0]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\r\ncafé\n");
  Vocab v = Vocab::load(dir.file("vocab.txt"));
  CHECK(v.size() == 9);
  CHECK(v.pad_id() == 0);
  CHECK(v.unk_id() == 2);
  CHECK(v.cls_id() == 3);
  CHECK(v.sep_id() == 4);
  CHECK(v.mask_id() == 5);
  CHECK(v.find("the") == 6);
  CHECK(v.find("##s") == 7);  // a Windows line end is not part of the token
  CHECK(v.find("café") == 8);
  CHECK(v.find("missing") == -1);
  CHECK(v.token(6) == "the");
  CHECK_THROWS_WITH(v.token(9), Contains("token id 9 is outside the vocabulary [0, 9)"));
}

TEST_CASE("vocab: without [MASK] it loads, mask_id is -1", "[text]") {
  Vocab v = Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "x"});
  CHECK(v.mask_id() == -1);
  CHECK(v.size() == 5);
}

TEST_CASE("vocab: a missing file is an error naming it", "[text]") {
  t::ScratchDir dir;
  CHECK_THROWS_WITH(Vocab::load(dir.file("nope.txt")),
                    Contains("nope.txt' cannot be opened") && Contains("vocabulary"));
}

TEST_CASE("vocab: a duplicate token names both lines", "[text]") {
  t::ScratchDir dir;
  t::write_text_file(dir.file("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\ncat\nthe\n");
  CHECK_THROWS_WITH(Vocab::load(dir.file("vocab.txt")),
                    Contains("token 'the' appears twice, on lines 5 and 7") && Contains("vocab.txt"));
}

TEST_CASE("vocab: each missing special token is named", "[text]") {
  for (const char* special : {"[PAD]", "[UNK]", "[CLS]", "[SEP]"}) {
    std::vector<std::string> tokens;
    for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "word"})
      if (std::string(s) != special) tokens.emplace_back(s);
    CHECK_THROWS_WITH(Vocab::from_tokens(tokens, "mine"),
                      Contains(std::string("mine has no special token ") + special));
  }
}

TEST_CASE("vocab: empty files and blank lines are refused", "[text]") {
  t::ScratchDir dir;
  t::write_text_file(dir.file("empty.txt"), "");
  CHECK_THROWS_WITH(Vocab::load(dir.file("empty.txt")), Contains("empty.txt' is empty"));
  t::write_text_file(dir.file("blank.txt"), "[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n");
  CHECK_THROWS_WITH(Vocab::load(dir.file("blank.txt")), Contains("line 3 is empty"));
}
