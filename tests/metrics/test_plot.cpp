// The plot raster and charts: PNG files decode (a decoder written here over zlib:
// chunk CRCs, IHDR, inflate, the five row filters), have the expected size, are not
// a single colour, and known pixels (axis frame, bars, colour bar, images, glyphs)
// have the expected colour.
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "metrics/plot/charts.h"
#include "metrics/plot/font.h"
#include "test_util.h"

using namespace engine;
using plot::Color;
namespace fs = std::filesystem;

namespace {

struct Decoded {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  Color at(int x, int y) const {
    const uint8_t* p = &rgb[(size_t(y) * size_t(width) + size_t(x)) * 3];
    return {p[0], p[1], p[2]};
  }
};

uint32_t be32(const std::string& s, size_t i) {
  return uint32_t(uint8_t(s[i])) << 24 | uint32_t(uint8_t(s[i + 1])) << 16 | uint32_t(uint8_t(s[i + 2])) << 8 |
         uint32_t(uint8_t(s[i + 3]));
}

int paeth(int a, int b, int c) {
  int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

// Decodes an 8-bit RGB, non-interlaced PNG; REQUIREs every structural property.
Decoded decode_png(const std::string& png) {
  static const char kSig[] = "\x89PNG\r\n\x1a\n";
  REQUIRE(png.size() > 8);
  REQUIRE(std::memcmp(png.data(), kSig, 8) == 0);
  Decoded d;
  std::string idat;
  bool seen_end = false;
  size_t i = 8;
  while (i + 12 <= png.size() && !seen_end) {
    uint32_t len = be32(png, i);
    REQUIRE(i + 12 + len <= png.size());
    std::string type = png.substr(i + 4, 4);
    uint32_t crc = uint32_t(crc32(0, reinterpret_cast<const Bytef*>(png.data() + i + 4), 4 + len));
    CHECK(crc == be32(png, i + 8 + len));
    const size_t data = i + 8;
    if (type == "IHDR") {
      REQUIRE(len == 13);
      d.width = int(be32(png, data));
      d.height = int(be32(png, data + 4));
      CHECK(uint8_t(png[data + 8]) == 8);   // bit depth
      CHECK(uint8_t(png[data + 9]) == 2);   // colour type RGB
      CHECK(uint8_t(png[data + 12]) == 0);  // no interlace
    } else if (type == "IDAT") {
      idat += png.substr(data, len);
    } else if (type == "IEND") {
      seen_end = true;
    }
    i += 12 + len;
  }
  REQUIRE(seen_end);
  REQUIRE(d.width > 0);
  REQUIRE(d.height > 0);
  size_t stride = size_t(d.width) * 3;
  std::vector<uint8_t> raw(size_t(d.height) * (stride + 1));
  uLongf raw_len = uLongf(raw.size());
  REQUIRE(uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), uLong(idat.size())) == Z_OK);
  REQUIRE(raw_len == raw.size());
  d.rgb.assign(size_t(d.height) * stride, 0);
  for (int y = 0; y < d.height; ++y) {
    int filter = raw[size_t(y) * (stride + 1)];
    REQUIRE(filter <= 4);
    const uint8_t* src = &raw[size_t(y) * (stride + 1) + 1];
    uint8_t* out = &d.rgb[size_t(y) * stride];
    const uint8_t* up = y ? &d.rgb[size_t(y - 1) * stride] : nullptr;
    for (size_t x = 0; x < stride; ++x) {
      int a = x >= 3 ? out[x - 3] : 0, b = up ? up[x] : 0, c = up && x >= 3 ? up[x - 3] : 0;
      int pred = filter == 0 ? 0 : filter == 1 ? a : filter == 2 ? b : filter == 3 ? (a + b) / 2 : paeth(a, b, c);
      out[x] = uint8_t(src[x] + pred);
    }
  }
  return d;
}

Decoded roundtrip(const plot::Figure& f, const std::string& name) {
  std::string path = std::string(ENGINE_BINARY_DIR) + "/plot_scratch/" + name;
  f.save(path);
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  Decoded d = decode_png(ss.str());
  CHECK(d.width == f.canvas.width());
  CHECK(d.height == f.canvas.height());
  CHECK(d.rgb == f.canvas.pixels());  // lossless, byte for byte
  size_t distinct = 0;
  for (size_t i = 3; i < d.rgb.size() && distinct == 0; i += 3) distinct += std::memcmp(&d.rgb[i], &d.rgb[0], 3) != 0;
  CHECK(distinct > 0);  // not a single colour
  return d;
}

bool near(Color a, Color b, int tol = 0) {
  return std::abs(a.r - b.r) <= tol && std::abs(a.g - b.g) <= tol && std::abs(a.b - b.b) <= tol;
}

}  // namespace

TEST_CASE("nice ticks are round steps covering the range", "[metrics][plot]") {
  CHECK(plot::nice_ticks(0, 1, 5) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0});
  auto t = plot::nice_ticks(3, 97, 5);
  CHECK(t.front() == 20);
  CHECK(t.back() == 80);
  CHECK(plot::nice_step(3, 97, 5) == 20);
  CHECK(plot::nice_step(0, 0.013, 5) == Approx(0.002));
  CHECK(plot::format_tick(0.25, 0.05) == "0.25");
  CHECK(plot::format_tick(40, 20) == "40");
  double lo = 0.13, hi = 0.87;
  plot::expand_to_ticks(&lo, &hi);
  CHECK(lo == Approx(0.1));
  CHECK(hi == Approx(0.9));
  double a = 5, b = 5;  // a flat range is widened
  plot::expand_to_ticks(&a, &b);
  CHECK(a < 5);
  CHECK(b > 5);
}

TEST_CASE("canvas primitives and text draw the expected pixels", "[metrics][plot]") {
  plot::Canvas c(40, 20);
  c.fill_rect({2, 3, 6, 5}, plot::colors::red);
  CHECK(c.get(2, 3) == plot::colors::red);
  CHECK(c.get(5, 4) == plot::colors::red);
  CHECK(c.get(6, 4) == plot::colors::white);
  c.line(0, 10, 39, 10, plot::colors::blue);
  for (int x = 0; x < 40; ++x) CHECK(c.get(x, 10) == plot::colors::blue);
  c.fill_rect({-5, -5, 100, 1}, plot::colors::green);  // clipped, no crash
  CHECK(c.get(39, 0) == plot::colors::green);
  // "T" at scale 1: the top row is a full bar of 5 pixels, the stem in column 2.
  plot::Canvas t(10, 12);
  CHECK(t.text(1, 1, "T", plot::colors::black) == 5);
  for (int x = 1; x <= 5; ++x) CHECK(t.get(x, 1) == plot::colors::black);
  CHECK(t.get(3, 7) == plot::colors::black);
  CHECK(t.get(2, 7) == plot::colors::white);
  // Scale 2 doubles every pixel; width counts glyph advances.
  CHECK(plot::Canvas::text_width("ab", 2) == (2 * plot::kGlyphAdvance - 1) * 2);
  const uint8_t* g = plot::glyph('g');
  CHECK(g[8] != 0);                       // a descender below the baseline
  CHECK(plot::glyph('\x01')[0] == 0x1F);  // unknown characters draw a box
  CHECK_THROWS_WITH(plot::Canvas(0, 5), Catch::Contains("out of range"));
}

TEST_CASE("line panels decode from PNG with a black frame and coloured series", "[metrics][plot]") {
  plot::LinePanel p{"loss", "epoch", "loss", {}, true};
  p.series.push_back({"train", {1, 2, 3, 4}, {1.0, 0.6, 0.4, 0.3}, plot::colors::blue, false});
  p.series.push_back({"test", {1, 2, 3, 4}, {1.1, 0.7, NAN, 0.5}, plot::colors::orange, true});
  p.integer_x = true;
  plot::LinePanel q{"accuracy", "epoch", "acc", {{"", {1, 2}, {0.5, 0.9}, plot::colors::green, false}}, false};
  plot::Figure f = plot::line_panels({p, q}, 2);
  REQUIRE(f.panels.size() == 2);
  Decoded d = roundtrip(f, "lines.png");
  CHECK(d.width == 2 * plot::kPanelWidth);
  CHECK(d.height == plot::kPanelHeight);
  for (const auto& r : f.panels) {
    int my = (r.y0 + r.y1) / 2, mx = (r.x0 + r.x1) / 2;
    CHECK(near(d.at(r.x0 - 1, my), plot::colors::black));  // left axis
    CHECK(near(d.at(mx, r.y1), plot::colors::black));      // bottom axis
  }
  // The train series passes through its data points: the marker of (2, 0.6) is blue.
  size_t blue = 0, orange = 0;
  for (int y = f.panels[0].y0; y < f.panels[0].y1; ++y)
    for (int x = f.panels[0].x0; x < f.panels[0].x1; ++x) {
      blue += d.at(x, y) == plot::colors::blue;
      orange += d.at(x, y) == plot::colors::orange;
    }
  CHECK(blue > 200);
  CHECK(orange > 100);
}

TEST_CASE("bar panels and histograms and the reliability diagram decode with their bars", "[metrics][plot]") {
  plot::BarPanel load{"expert load",      "expert", "token fraction", {0.4, 0.3, 0.2, 0.1}, {}, {},
                      plot::colors::blue, 0.25,     "uniform"};
  plot::BarPanel h = plot::histogram({0.1, 0.2, 0.25, 0.8, 0.9, 0.95, 0.99}, 10, 0, 1, "confidence", "p");
  REQUIRE(h.values.size() == 10);
  CHECK(h.values[9] == Approx(3.0 / 7));  // 0.9, 0.95, 0.99 in [0.9, 1]
  CHECK(h.values[2] == Approx(2.0 / 7));  // 0.2 and 0.25
  CHECK(h.values[1] == Approx(1.0 / 7));
  CHECK(h.values[5] == 0);
  plot::Figure f = plot::bar_panels({load, h}, 2);
  Decoded d = roundtrip(f, "bars.png");
  const plot::Rect& r = f.panels[0];
  // Bar 0 (0.4) is blue just above the x axis in the first quarter of the plot.
  int x0 = r.x0 + r.width() / 8;
  CHECK(d.at(x0, r.y1 - 3) == plot::colors::blue);
  CHECK(near(d.at(r.x0 - 1, (r.y0 + r.y1) / 2), plot::colors::black));

  std::vector<int64_t> count{0, 0, 2, 8};
  std::vector<double> conf{0, 0, 1.2, 7.6}, correct{0, 0, 1, 6};
  plot::Figure rel = plot::reliability_diagram(count, conf, correct, "ECE 0.1");
  REQUIRE(rel.panels.size() == 2);
  Decoded e = roundtrip(rel, "reliability.png");
  const plot::Rect& top = rel.panels[0];
  // Bin 3 (0.75..1, accuracy 0.75): blue at the bottom; bins 0 and 1 are empty (white).
  CHECK(e.at(top.x0 + top.width() * 7 / 8, top.y1 - 3) == plot::colors::blue);
  CHECK(e.at(top.x0 + top.width() / 8 + 5, top.y1 - 20) != plot::colors::blue);
  CHECK(near(e.at(top.x0 - 1, (top.y0 + top.y1) / 2), plot::colors::black));
}

TEST_CASE("heatmaps decode with cell colours and a colour bar from low to high", "[metrics][plot]") {
  plot::Heatmap h;
  h.title = "expert x class";
  h.values = {{0, 10, 20}, {30, 40, 50}};
  h.row_labels = {"e0", "e1"};
  h.col_labels = {"airplane", "automobile", "bird"};
  h.colorbar_label = "tokens";
  plot::Figure f = plot::heatmap(h);
  REQUIRE(f.panels.size() == 2);
  Decoded d = roundtrip(f, "heatmap.png");
  const plot::Rect& m = f.panels[0];
  const plot::Rect& bar = f.panels[1];
  // Top-left cell holds the minimum, bottom-right the maximum (sampled near a corner,
  // away from the annotation text).
  CHECK(near(d.at(m.x0 + 3, m.y0 + 3), plot::colormap(0.0), 1));
  CHECK(near(d.at(m.x1 - 4, m.y1 - 4), plot::colormap(1.0), 1));
  CHECK(near(d.at((bar.x0 + bar.x1) / 2, bar.y0), plot::colormap(1.0), 1));
  CHECK(near(d.at((bar.x0 + bar.x1) / 2, bar.y1 - 1), plot::colormap(0.0), 1));
  h.values.push_back({1, 2});
  CHECK_THROWS_WITH(plot::heatmap(h), Catch::Contains("rows of 3 and 2"));
}

TEST_CASE("image grids place the pixels of each image scaled", "[metrics][plot]") {
  std::vector<uint8_t> rgb(3 * 4 * 4), grey(4 * 4);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = uint8_t(i * 5);
  for (size_t i = 0; i < grey.size(); ++i) grey[i] = uint8_t(200 - i);
  plot::GridImage a{rgb.data(), 3, 4, 4, {{"cat", plot::colors::black}, {"dog 90%", plot::colors::red}}};
  plot::GridImage b{grey.data(), 1, 4, 4, {{"x", plot::colors::black}}};
  plot::Figure f = plot::image_grid({a, b, a}, 2, 3, "samples");
  REQUIRE(f.panels.size() == 3);
  Decoded d = roundtrip(f, "grid.png");
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) {
      size_t i = size_t(y * 4 + x);
      Color ca{rgb[i], rgb[16 + i], rgb[32 + i]}, cb{grey[i], grey[i], grey[i]};
      CHECK(d.at(f.panels[0].x0 + 3 * x + 1, f.panels[0].y0 + 3 * y + 2) == ca);
      CHECK(d.at(f.panels[1].x0 + 3 * x + 2, f.panels[1].y0 + 3 * y) == cb);
      CHECK(d.at(f.panels[2].x0 + 3 * x, f.panels[2].y0 + 3 * y + 1) == ca);
    }
  // Captions: red pixels exist under the first image (the prediction line).
  size_t red = 0;
  for (int y = f.panels[0].y1; y < f.panels[0].y1 + 50 && y < d.height; ++y)
    for (int x = 0; x < d.width / 2; ++x) red += d.at(x, y) == plot::colors::red;
  CHECK(red > 10);
}
