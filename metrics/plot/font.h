#pragma once
// A 5x7 bitmap font for printable ASCII with two descender rows (g, j, p, q, y, the
// comma), drawn here for plot labels.
#include <cstdint>

namespace engine::plot {

constexpr int kGlyphWidth = 5, kGlyphHeight = 9;
constexpr int kGlyphAdvance = 6;  // one column of space between characters

// Nine rows for character c; bit 4 of each row is its leftmost pixel. Characters
// outside printable ASCII map to an empty box.
const uint8_t* glyph(char c);

}  // namespace engine::plot
