#include "metrics/plot/canvas.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

// The one translation unit holding stb_image_write's implementation; its own
// warnings are not ours to fix.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

#include "base/check.h"
#include "engine/io/atomic_file.h"
#include "metrics/plot/font.h"

namespace engine::plot {

Color series_color(int i) {
  static const Color kCycle[10] = {{31, 119, 180}, {255, 127, 14},  {44, 160, 44},   {214, 39, 40},  {148, 103, 189},
                                   {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
  return kCycle[((i % 10) + 10) % 10];
}

Color mix(Color a, Color b, double t) {
  t = std::clamp(t, 0.0, 1.0);
  auto m = [t](uint8_t x, uint8_t y) { return uint8_t(std::lround(double(x) + (double(y) - double(x)) * t)); };
  return {m(a.r, b.r), m(a.g, b.g), m(a.b, b.b)};
}

Color colormap(double t) {
  // Anchors from dark violet through blue, teal and green to yellow: lightness rises
  // monotonically, so the order of values survives printing in grey.
  static const Color kAnchors[] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  constexpr int n = 5;
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * (n - 1);
  int i = std::min(n - 2, int(t));
  return mix(kAnchors[i], kAnchors[i + 1], t - i);
}

Canvas::Canvas(int width, int height, Color background) : width_(width), height_(height) {
  ENGINE_CHECK(width > 0 && height > 0 && width <= 16384 && height <= 16384,
               "plot: canvas size " << width << "x" << height << " is out of range");
  rgb_.resize(size_t(width) * size_t(height) * 3);
  for (size_t i = 0; i < rgb_.size(); i += 3) {
    rgb_[i] = background.r;
    rgb_[i + 1] = background.g;
    rgb_[i + 2] = background.b;
  }
}

Color Canvas::get(int x, int y) const {
  ENGINE_CHECK(x >= 0 && y >= 0 && x < width_ && y < height_,
               "plot: pixel (" << x << ", " << y << ") outside " << width_ << "x" << height_);
  const uint8_t* p = &rgb_[(size_t(y) * size_t(width_) + size_t(x)) * 3];
  return {p[0], p[1], p[2]};
}

void Canvas::set(int x, int y, Color c) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  uint8_t* p = &rgb_[(size_t(y) * size_t(width_) + size_t(x)) * 3];
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

void Canvas::blend(int x, int y, Color c, double alpha) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  set(x, y, mix(get(x, y), c, alpha));
}

void Canvas::fill_rect(const Rect& r, Color c, double alpha) {
  int x0 = std::max(0, r.x0), x1 = std::min(width_, r.x1), y0 = std::max(0, r.y0), y1 = std::min(height_, r.y1);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) alpha >= 1.0 ? set(x, y, c) : blend(x, y, c, alpha);
}

void Canvas::outline_rect(const Rect& r, Color c, int t) {
  fill_rect({r.x0, r.y0, r.x1, r.y0 + t}, c);
  fill_rect({r.x0, r.y1 - t, r.x1, r.y1}, c);
  fill_rect({r.x0, r.y0, r.x0 + t, r.y1}, c);
  fill_rect({r.x1 - t, r.y0, r.x1, r.y1}, c);
}

void Canvas::line(double x0, double y0, double x1, double y1, Color c, int thickness, int dash) {
  if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1)) return;
  double dx = x1 - x0, dy = y1 - y0;
  double len = std::max(std::abs(dx), std::abs(dy));
  // Far outside the canvas nothing is drawn; this also bounds the step count.
  if (len > 8.0 * double(width_ + height_)) return;
  int steps = std::max(1, int(std::ceil(len)));
  int lo = -(thickness - 1) / 2, hi = thickness / 2;
  for (int s = 0; s <= steps; ++s) {
    if (dash > 0 && (s / dash) % 2 == 1) continue;
    double t = double(s) / steps;
    int cx = int(std::lround(x0 + dx * t)), cy = int(std::lround(y0 + dy * t));
    for (int oy = lo; oy <= hi; ++oy)
      for (int ox = lo; ox <= hi; ++ox) set(cx + ox, cy + oy, c);
  }
}

int Canvas::text_width(const std::string& s, int scale) {
  return s.empty() ? 0 : (int(s.size()) * kGlyphAdvance - 1) * scale;
}

int Canvas::text_height(int scale) { return kGlyphHeight * scale; }

int Canvas::text(int x, int y, const std::string& s, Color c, int scale, Align align) {
  int w = text_width(s, scale);
  if (align == Align::center) x -= w / 2;
  if (align == Align::right) x -= w;
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t* g = glyph(s[i]);
    int gx = x + int(i) * kGlyphAdvance * scale;
    for (int row = 0; row < kGlyphHeight; ++row)
      for (int col = 0; col < kGlyphWidth; ++col)
        if (g[row] & (0x10 >> col))
          fill_rect({gx + col * scale, y + row * scale, gx + (col + 1) * scale, y + (row + 1) * scale}, c);
  }
  return w;
}

void Canvas::text_vertical(int cx, int cy, const std::string& s, Color c, int scale) {
  int w = text_width(s, scale), h = text_height(scale);
  // Glyph pixel (col, row) of the horizontal text lands at (row, w - 1 - col).
  int x0 = cx - h / 2, y0 = cy - w / 2;
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t* g = glyph(s[i]);
    for (int row = 0; row < kGlyphHeight; ++row)
      for (int col = 0; col < kGlyphWidth; ++col) {
        if (!(g[row] & (0x10 >> col))) continue;
        int hx = (int(i) * kGlyphAdvance + col) * scale;  // horizontal position along the text
        int vx = x0 + row * scale, vy = y0 + w - hx - scale;
        fill_rect({vx, vy, vx + scale, vy + scale}, c);
      }
  }
}

void Canvas::image(int x, int y, const uint8_t* chw, int channels, int height, int width, int scale) {
  ENGINE_CHECK(channels == 1 || channels == 3, "plot: images need 1 or 3 channels, got " << channels);
  size_t plane = size_t(height) * size_t(width);
  for (int r = 0; r < height; ++r)
    for (int q = 0; q < width; ++q) {
      size_t i = size_t(r) * size_t(width) + size_t(q);
      Color c = channels == 3 ? Color{chw[i], chw[plane + i], chw[2 * plane + i]} : Color{chw[i], chw[i], chw[i]};
      fill_rect({x + q * scale, y + r * scale, x + (q + 1) * scale, y + (r + 1) * scale}, c);
    }
}

std::string Canvas::encode_png() const {
  std::string out;
  auto sink = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size_t(size));
  };
  int ok = stbi_write_png_to_func(sink, &out, width_, height_, 3, rgb_.data(), width_ * 3);
  ENGINE_CHECK(ok != 0, "plot: PNG encoding failed for a " << width_ << "x" << height_ << " image");
  return out;
}

void Canvas::save_png(const std::string& path) const {
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  io::write_file_atomic(path, encode_png());
}

}  // namespace engine::plot
