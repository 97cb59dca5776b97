#pragma once
// BERT's WordPiece tokenizer, as the reference (Hugging Face BertTokenizer with its
// BasicTokenizer) does it, for uncased models such as all-MiniLM-L6-v2:
//   1. the special tokens ([CLS], [SEP], [PAD], [UNK], [MASK]) written literally in the
//      text, case-sensitive, are split out and kept as themselves;
//   2. clean: NUL, U+FFFD (and so invalid UTF-8) and control characters (category C*
//      but tab, newline, carriage return) removed; whitespace (Zs included) -> space;
//   3. CJK ideographs get spaces around them, so each is a word of its own;
//   4. split on whitespace; each word lower-cased one code point at a time, its accents
//      stripped (NFD, nonspacing marks removed), then split around every punctuation
//      character (each one a word);
//   5. each word: greedy longest-match-first pieces, continuations prefixed "##"; a word
//      with no full cover, or longer than max_word_chars code points, is [UNK];
//   6. [CLS] pieces [SEP], the pieces truncated so that the whole fits max_length.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/vocab.h"

namespace engine::text {

struct TokenizerOptions {
  bool lower_case = true;
  bool strip_accents = true;
  bool split_cjk = true;
  int64_t max_length = 256;  // [CLS] and [SEP] included
  int64_t max_word_chars = 100;
};

struct Encoding {
  std::vector<int32_t> ids;             // [CLS] ... [SEP]
  std::vector<int32_t> attention_mask;  // 1 per id
};

// Row-major [batch, length]; padding is [PAD] with mask 0.
struct BatchEncoding {
  int64_t batch = 0;
  int64_t length = 0;
  std::vector<int32_t> ids;
  std::vector<int32_t> attention_mask;
};

class WordPieceTokenizer {
 public:
  explicit WordPieceTokenizer(Vocab vocab, TokenizerOptions options = {});

  // The word pieces of `text` (steps 1-5), without [CLS]/[SEP] and without truncation.
  std::vector<std::string> tokenize(std::string_view text) const;
  // The ids of tokenize(text) (steps 1-5).
  std::vector<int32_t> piece_ids(std::string_view text) const;
  Encoding encode(std::string_view text) const;
  // Every text encoded, then padded to the longest (pad_to = 0), or truncated and padded
  // to exactly pad_to ids (2 <= pad_to; at most max_length ids are kept either way).
  BatchEncoding encode_batch(const std::vector<std::string>& texts, int64_t pad_to = 0) const;

  const Vocab& vocab() const { return vocab_; }
  const TokenizerOptions& options() const { return options_; }

 private:
  void words_of(std::string_view text, std::vector<std::u32string>& words) const;
  void pieces_of_word(const std::u32string& word, std::vector<int32_t>& ids) const;
  Encoding encode_to(std::string_view text, int64_t max_length) const;

  Vocab vocab_;
  TokenizerOptions options_;
  std::vector<std::string> specials_;
};

}  // namespace engine::text
