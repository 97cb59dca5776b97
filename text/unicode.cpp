#include "text/unicode.h"

#include <algorithm>
#include <cstdint>

namespace engine::text {
namespace {

struct CharRange {
  char32_t first, last;
  uint8_t flags;
};
struct CodeMap {
  char32_t from, to;
};
struct StripEntry {
  char32_t from;
  uint16_t offset, length;
};
constexpr uint8_t kOther = 1, kMark = 2, kPunct = 4, kSpace = 8;

#include "text/unicode_tables.inc"

uint8_t flags_of(char32_t c) {
  const CharRange* end = kCharRanges + sizeof(kCharRanges) / sizeof(kCharRanges[0]);
  const CharRange* it =
      std::upper_bound(kCharRanges, end, c, [](char32_t v, const CharRange& r) { return v < r.first; });
  if (it == kCharRanges) return 0;
  --it;
  return c <= it->last ? it->flags : 0;
}

constexpr char32_t kReplacement = 0xFFFD;
constexpr char32_t kHangulFirst = 0xAC00, kHangulLast = 0xD7A3;

}  // namespace

std::u32string decode_utf8(std::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    }
    int len = 0;
    char32_t c = 0, min = 0;
    if ((b0 & 0xE0) == 0xC0) {
      len = 2, c = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, c = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, c = b0 & 0x07, min = 0x10000;
    }
    bool ok = len > 0 && i + len <= n;
    for (int k = 1; ok && k < len; ++k) {
      const auto b = static_cast<unsigned char>(bytes[i + k]);
      ok = (b & 0xC0) == 0x80;
      c = (c << 6) | (b & 0x3F);
    }
    ok = ok && c >= min && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
    if (ok) {
      out.push_back(c);
      i += len;
    } else {
      out.push_back(kReplacement);
      ++i;
    }
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view chars) {
  std::string out;
  out.reserve(chars.size());
  for (char32_t c : chars) append_utf8(out, c);
  return out;
}

bool is_control(char32_t c) {
  if (c == U'\t' || c == U'\n' || c == U'\r') return false;
  return (flags_of(c) & kOther) != 0;
}

bool is_whitespace(char32_t c) {
  return c == U' ' || c == U'\t' || c == U'\n' || c == U'\r' || (flags_of(c) & kSpace) != 0;
}

bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  return (flags_of(c) & kPunct) != 0;
}

bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_nonspacing_mark(char32_t c) { return (flags_of(c) & kMark) != 0; }

void append_lower(std::u32string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(c >= U'A' && c <= U'Z' ? c + 32 : c);
    return;
  }
  if (c == 0x130) {
    out.push_back(U'i');
    out.push_back(0x307);
    return;
  }
  const CodeMap* end = kLowerMap + sizeof(kLowerMap) / sizeof(kLowerMap[0]);
  const CodeMap* it = std::lower_bound(kLowerMap, end, c, [](const CodeMap& m, char32_t v) { return m.from < v; });
  out.push_back(it != end && it->from == c ? it->to : c);
}

void append_stripped(std::u32string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(c);
    return;
  }
  if (c >= kHangulFirst && c <= kHangulLast) {
    // The canonical decomposition of a Hangul syllable into its leading consonant,
    // vowel and (optional) trailing consonant jamo, by the Unicode formula.
    const char32_t s = c - kHangulFirst;
    out.push_back(0x1100 + s / (21 * 28));
    out.push_back(0x1161 + (s % (21 * 28)) / 28);
    if (s % 28 != 0) out.push_back(0x11A7 + s % 28);
    return;
  }
  if (is_nonspacing_mark(c)) return;
  const StripEntry* end = kStripMap + sizeof(kStripMap) / sizeof(kStripMap[0]);
  const StripEntry* it =
      std::lower_bound(kStripMap, end, c, [](const StripEntry& e, char32_t v) { return e.from < v; });
  if (it != end && it->from == c) {
    out.append(kStripPool + it->offset, it->length);
  } else {
    out.push_back(c);
  }
}

}  // namespace engine::text
