#include "text/wordpiece.h"

#include <algorithm>

#include "base/check.h"
#include "text/unicode.h"

namespace engine::text {
namespace {

// Line and paragraph separators survive cleaning (they are neither Zs nor C*) but the
// reference's whitespace split (Python's str.split()) still splits on them.
bool splits_words(char32_t c) { return c == U' ' || c == 0x2028 || c == 0x2029; }

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(Vocab vocab, TokenizerOptions options)
    : vocab_(std::move(vocab)), options_(options) {
  ENGINE_CHECK(options_.max_length >= 2,
               "tokenizer max_length must be at least 2 ([CLS] and [SEP]), got " << options_.max_length);
  ENGINE_CHECK(options_.max_word_chars >= 1,
               "tokenizer max_word_chars must be positive, got " << options_.max_word_chars);
  for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
    if (vocab_.contains(s)) specials_.emplace_back(s);
}

void WordPieceTokenizer::words_of(std::string_view text, std::vector<std::u32string>& words) const {
  std::u32string cleaned;
  for (char32_t c : decode_utf8(text)) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_whitespace(c)) {
      cleaned.push_back(U' ');
    } else if (options_.split_cjk && is_cjk(c)) {
      cleaned.push_back(U' ');
      cleaned.push_back(c);
      cleaned.push_back(U' ');
    } else {
      cleaned.push_back(c);
    }
  }
  std::u32string lowered, stripped;
  size_t i = 0;
  while (i < cleaned.size()) {
    if (splits_words(cleaned[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < cleaned.size() && !splits_words(cleaned[end])) ++end;
    lowered.clear();
    for (size_t k = i; k < end; ++k) {
      if (options_.lower_case) {
        append_lower(lowered, cleaned[k]);
      } else {
        lowered.push_back(cleaned[k]);
      }
    }
    stripped.clear();
    for (char32_t c : lowered) {
      if (options_.strip_accents) {
        append_stripped(stripped, c);
      } else {
        stripped.push_back(c);
      }
    }
    std::u32string word;
    for (char32_t c : stripped) {
      if (is_punctuation(c)) {
        if (!word.empty()) words.push_back(std::move(word));
        word.clear();
        words.emplace_back(1, c);
      } else if (splits_words(c)) {
        if (!word.empty()) words.push_back(std::move(word));
        word.clear();
      } else {
        word.push_back(c);
      }
    }
    if (!word.empty()) words.push_back(std::move(word));
    i = end;
  }
}

void WordPieceTokenizer::pieces_of_word(const std::u32string& word, std::vector<int32_t>& ids) const {
  if (static_cast<int64_t>(word.size()) > options_.max_word_chars) {
    ids.push_back(vocab_.unk_id());
    return;
  }
  // Byte offset of each code point, so that candidates are substrings of one encoding.
  std::string utf8;
  std::vector<size_t> offset;
  offset.reserve(word.size() + 1);
  for (char32_t c : word) {
    offset.push_back(utf8.size());
    append_utf8(utf8, c);
  }
  offset.push_back(utf8.size());
  const size_t first = ids.size();
  std::string candidate;
  size_t start = 0;
  while (start < word.size()) {
    int32_t found = -1;
    size_t end = word.size();
    for (; end > start; --end) {
      candidate.assign(start > 0 ? "##" : "");
      candidate.append(utf8, offset[start], offset[end] - offset[start]);
      found = vocab_.find(candidate);
      if (found >= 0) break;
    }
    if (found < 0) {
      ids.resize(first);
      ids.push_back(vocab_.unk_id());
      return;
    }
    ids.push_back(found);
    start = end;
  }
}

std::vector<int32_t> WordPieceTokenizer::piece_ids(std::string_view text) const {
  std::vector<int32_t> ids;
  std::vector<std::u32string> words;
  size_t pos = 0;
  while (pos <= text.size()) {
    // The next literal special token (the earliest; the longest at one position).
    size_t at = std::string_view::npos, len = 0;
    for (const std::string& s : specials_) {
      const size_t p = text.find(s, pos);
      if (p != std::string_view::npos && (p < at || (p == at && s.size() > len))) at = p, len = s.size();
    }
    words.clear();
    words_of(text.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos), words);
    for (const std::u32string& w : words) pieces_of_word(w, ids);
    if (at == std::string_view::npos) break;
    ids.push_back(vocab_.find(text.substr(at, len)));
    pos = at + len;
  }
  return ids;
}

std::vector<std::string> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> pieces;
  for (int32_t id : piece_ids(text)) pieces.push_back(vocab_.token(id));
  return pieces;
}

Encoding WordPieceTokenizer::encode_to(std::string_view text, int64_t max_length) const {
  std::vector<int32_t> pieces = piece_ids(text);
  const size_t keep = std::min(pieces.size(), static_cast<size_t>(max_length - 2));
  Encoding e;
  e.ids.reserve(keep + 2);
  e.ids.push_back(vocab_.cls_id());
  e.ids.insert(e.ids.end(), pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(keep));
  e.ids.push_back(vocab_.sep_id());
  e.attention_mask.assign(e.ids.size(), 1);
  return e;
}

Encoding WordPieceTokenizer::encode(std::string_view text) const { return encode_to(text, options_.max_length); }

BatchEncoding WordPieceTokenizer::encode_batch(const std::vector<std::string>& texts, int64_t pad_to) const {
  ENGINE_CHECK(pad_to == 0 || pad_to >= 2,
               "encode_batch: pad_to must be 0 (pad to the longest) or at least 2 "
               "([CLS] and [SEP]), got "
                   << pad_to);
  const int64_t limit = pad_to > 0 ? std::min(pad_to, options_.max_length) : options_.max_length;
  std::vector<Encoding> rows;
  rows.reserve(texts.size());
  int64_t longest = 0;
  for (const std::string& t : texts) {
    rows.push_back(encode_to(t, limit));
    longest = std::max(longest, static_cast<int64_t>(rows.back().ids.size()));
  }
  BatchEncoding b;
  b.batch = static_cast<int64_t>(texts.size());
  b.length = pad_to > 0 ? pad_to : longest;
  b.ids.assign(static_cast<size_t>(b.batch * b.length), vocab_.pad_id());
  b.attention_mask.assign(b.ids.size(), 0);
  for (size_t r = 0; r < rows.size(); ++r) {
    std::copy(rows[r].ids.begin(), rows[r].ids.end(), b.ids.begin() + static_cast<std::ptrdiff_t>(r * b.length));
    std::fill_n(b.attention_mask.begin() + static_cast<std::ptrdiff_t>(r * b.length), rows[r].ids.size(), 1);
  }
  return b;
}

}  // namespace engine::text
