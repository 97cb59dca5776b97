#include <catch2/catch.hpp>

#include "text/unicode.h"

using namespace engine::text;

namespace {

std::u32string lower(std::u32string_view s) {
  std::u32string out;
  for (char32_t c : s) append_lower(out, c);
  return out;
}

std::u32string stripped(std::u32string_view s) {
  std::u32string out;
  for (char32_t c : s) append_stripped(out, c);
  return out;
}

}  // namespace

TEST_CASE("unicode: UTF-8 round trip of one to four byte characters", "[text]") {
  const std::string s = "a\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80";  // a é 日 😀
  CHECK(decode_utf8(s) == std::u32string{U'a', 0xE9, 0x65E5, 0x1F600});
  CHECK(encode_utf8(decode_utf8(s)) == s);
}

TEST_CASE("unicode: invalid UTF-8 bytes each become U+FFFD, decoding goes on", "[text]") {
  CHECK(decode_utf8("\xFF"
                    "a") == std::u32string{0xFFFD, U'a'});
  CHECK(decode_utf8("\x80\xBF") == std::u32string{0xFFFD, 0xFFFD});  // stray continuations
  CHECK(decode_utf8("a\xC3") == std::u32string{U'a', 0xFFFD});       // truncated at the end
  CHECK(decode_utf8("\xE6\x97"
                    "b") == std::u32string{0xFFFD, 0xFFFD, U'b'});               // truncated, then ASCII
  CHECK(decode_utf8("\xC0\xAF") == std::u32string{0xFFFD, 0xFFFD});              // overlong '/'
  CHECK(decode_utf8("\xED\xA0\x80") == std::u32string{0xFFFD, 0xFFFD, 0xFFFD});  // a surrogate
  CHECK(decode_utf8("\xF4\x90\x80\x80") == std::u32string(4, 0xFFFD));           // above U+10FFFF
  CHECK(decode_utf8(std::string("\0x", 2)) == std::u32string{0, U'x'});
}

TEST_CASE("unicode: character classes as the BERT tokenizer sees them", "[text]") {
  CHECK(is_control(0x01));
  CHECK(is_control(0x7F));
  CHECK(is_control(0x200D));  // zero-width joiner, Cf
  CHECK(is_control(0xAD));    // soft hyphen, Cf
  CHECK(is_control(0xE000));  // private use, Co
  CHECK_FALSE(is_control(U'\t'));
  CHECK_FALSE(is_control(U'\n'));
  CHECK_FALSE(is_control(U'a'));
  CHECK(is_whitespace(U' '));
  CHECK(is_whitespace(U'\r'));
  CHECK(is_whitespace(0xA0));    // no-break space, Zs
  CHECK(is_whitespace(0x3000));  // ideographic space
  CHECK_FALSE(is_whitespace(0x0B));
  CHECK_FALSE(is_whitespace(0x2028));  // line separator is Zl
  for (char32_t c : {U'!', U'/', U':', U'@', U'[', U'`', U'{', U'~', U'$', U'^', U'+'}) CHECK(is_punctuation(c));
  CHECK(is_punctuation(0xAB));          // «
  CHECK(is_punctuation(0x2014));        // em dash
  CHECK(is_punctuation(0x3002));        // ideographic full stop
  CHECK_FALSE(is_punctuation(0x20AC));  // €, Sc but not ASCII
  CHECK_FALSE(is_punctuation(U'a'));
  CHECK(is_cjk(0x65E5));
  CHECK(is_cjk(0x20000));
  CHECK_FALSE(is_cjk(0x306E));  // hiragana
  CHECK_FALSE(is_cjk(0xD55C));  // hangul
  CHECK(is_nonspacing_mark(0x301));
  CHECK_FALSE(is_nonspacing_mark(U'e'));
}

TEST_CASE("unicode: lower-casing one code point at a time", "[text]") {
  CHECK(lower(U"HeLLo") == U"hello");
  CHECK(lower(U"ÀÉÎÕÜ") == U"àéîõü");
  CHECK(lower(U"ΟΔΟΣ") == U"οδοσ");  // no final sigma, as in the reference
  CHECK(lower(U"СЪЕШЬ") == U"съешь");
  CHECK(lower(U"ＡＢ") == U"ａｂ");
  CHECK(lower(U"\u0130") == U"i\u0307");
  CHECK(lower(U"ß日") == U"ß日");
}

TEST_CASE("unicode: accent stripping is NFD without nonspacing marks", "[text]") {
  CHECK(stripped(U"café naïve zürich") == U"cafe naive zurich");
  CHECK(stripped(U"łódź ærø") == U"łodz ærø");  // ł and æ have no decomposition
  CHECK(stripped(U"e\u0301") == U"e");
  CHECK(stripped(U"ά ῷ") == U"α ω");
  CHECK(stripped(U"й ё") == U"и е");
  CHECK(stripped(U"\u212B") == U"A");  // angstrom sign -> A + ring
  CHECK(stripped(U"한") == U"\u1112\u1161\u11AB");
  CHECK(stripped(U"가") == U"\u1100\u1161");
  CHECK(stripped(U"ﬁ") == U"ﬁ");  // compatibility decompositions are not NFD
}
