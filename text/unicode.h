#pragma once
// The Unicode pieces of BERT's basic tokenisation: UTF-8 decoding that never fails,
// the character classes the reference tokenizer asks about, lower-casing one code point
// at a time and accent stripping (NFD, then the nonspacing marks removed). The tables
// (unicode_tables.inc) are generated from Python's unicodedata by
// scripts/gen_text_unicode_tables.py.
#include <string>
#include <string_view>

namespace engine::text {

// Decodes UTF-8. Every byte that does not start a well-formed sequence (a stray
// continuation byte, a truncated or overlong sequence, a surrogate, a value above
// U+10FFFF) becomes U+FFFD, and decoding continues with the next byte.
std::u32string decode_utf8(std::string_view bytes);
void append_utf8(std::string& out, char32_t c);
std::string encode_utf8(std::u32string_view chars);

// Category C* except tab, newline and carriage return (those count as whitespace).
bool is_control(char32_t c);
// Space, tab, newline, carriage return and category Zs.
bool is_whitespace(char32_t c);
// ASCII 33-47, 58-64, 91-96, 123-126 (symbols such as $ and ^ included) and category P*.
bool is_punctuation(char32_t c);
// The CJK Unified Ideographs blocks (not Hiragana, Katakana or Hangul).
bool is_cjk(char32_t c);
// Category Mn.
bool is_nonspacing_mark(char32_t c);

// Python's str.lower() applied to one code point at a time; U+0130 becomes "i\u0307".
void append_lower(std::u32string& out, char32_t c);
// The NFD decomposition of c without its nonspacing marks (nothing when c is one).
void append_stripped(std::u32string& out, char32_t c);

}  // namespace engine::text
