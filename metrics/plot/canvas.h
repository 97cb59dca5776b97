#pragma once
// A small RGB raster for plots: pixels, rectangles, lines, text in the 5x7 font
// (font.h) at integer scales, images, and PNG output through stb_image_write.
// Coordinates are pixels, x to the right and y down; everything is clipped.
#include <cstdint>
#include <string>
#include <vector>

namespace engine::plot {

struct Color {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Color& o) const { return r == o.r && g == o.g && b == o.b; }
  bool operator!=(const Color& o) const { return !(*this == o); }
};

namespace colors {
constexpr Color white{255, 255, 255}, black{0, 0, 0}, grey{128, 128, 128}, light_grey{225, 225, 225};
constexpr Color red{214, 39, 40}, green{44, 160, 44}, blue{31, 119, 180}, orange{255, 127, 14};
}  // namespace colors

// The i-th colour of a ten-colour cycle for data series.
Color series_color(int i);
// Linear interpolation between a and b, t in [0, 1].
Color mix(Color a, Color b, double t);
// A perceptually ordered dark-blue -> green -> yellow colour map, t in [0, 1].
Color colormap(double t);

enum class Align { left, center, right };

// Pixel box [x0, x1) x [y0, y1).
struct Rect {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int width() const { return x1 - x0; }
  int height() const { return y1 - y0; }
};

class Canvas {
 public:
  Canvas(int width, int height, Color background = colors::white);
  int width() const { return width_; }
  int height() const { return height_; }
  Color get(int x, int y) const;
  void set(int x, int y, Color c);
  // c over the pixel with opacity alpha in [0, 1].
  void blend(int x, int y, Color c, double alpha);

  void fill_rect(const Rect& r, Color c, double alpha = 1.0);
  void outline_rect(const Rect& r, Color c, int thickness = 1);
  // A straight line with a square brush of the given thickness; dash > 0 draws
  // dashes of that many pixels with gaps of the same length.
  void line(double x0, double y0, double x1, double y1, Color c, int thickness = 1, int dash = 0);

  // Text with its top edge at y, anchored at x by `align`; returns its width.
  int text(int x, int y, const std::string& s, Color c, int scale = 1, Align align = Align::left);
  // Text turned 90 degrees counter-clockwise (reading upwards), centred on (cx, cy).
  void text_vertical(int cx, int cy, const std::string& s, Color c, int scale = 1);
  static int text_width(const std::string& s, int scale = 1);
  static int text_height(int scale = 1);

  // A u8 image in CHW layout (1 or 3 channels), each pixel drawn as a scale x scale block.
  void image(int x, int y, const uint8_t* chw, int channels, int height, int width, int scale);

  const std::vector<uint8_t>& pixels() const { return rgb_; }  // row-major RGB
  std::string encode_png() const;
  // Written atomically (temporary file, then rename); creates missing folders.
  void save_png(const std::string& path) const;

 private:
  int width_, height_;
  std::vector<uint8_t> rgb_;
};

}  // namespace engine::plot
