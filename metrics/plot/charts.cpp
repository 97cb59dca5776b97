#include "metrics/plot/charts.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "base/check.h"
#include "metrics/plot/font.h"

namespace engine::plot {
namespace {

constexpr int kMarkerLimit = 60;  // markers on series with at most this many points

Figure make_grid_figure(size_t n, int columns, int panel_w, int panel_h) {
  ENGINE_CHECK(n > 0, "plot: a figure needs at least one panel");
  int cols = std::max(1, std::min(columns, int(n)));
  int rows = int((n + size_t(cols) - 1) / size_t(cols));
  return Figure{Canvas(cols * panel_w, rows * panel_h), {}};
}

Rect panel_rect(size_t i, int columns, int n, int panel_w, int panel_h) {
  int cols = std::max(1, std::min(columns, n));
  int x = int(i % size_t(cols)) * panel_w, y = int(i / size_t(cols)) * panel_h;
  return {x, y, x + panel_w, y + panel_h};
}

void finite_range(const std::vector<double>& v, double* lo, double* hi) {
  for (double x : v)
    if (std::isfinite(x)) *lo = std::min(*lo, x), *hi = std::max(*hi, x);
}

std::string format_cell(double v, bool integers) {
  char buf[32];
  if (integers)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, std::abs(v) >= 100 ? "%.0f" : "%.2f", v);
  return buf;
}

}  // namespace

Figure line_panels(const std::vector<LinePanel>& panels, int columns) {
  Figure f = make_grid_figure(panels.size(), columns, kPanelWidth, kPanelHeight);
  for (size_t pi = 0; pi < panels.size(); ++pi) {
    const LinePanel& p = panels[pi];
    std::vector<LegendEntry> legend;
    for (const Series& s : p.series)
      if (!s.name.empty()) legend.push_back({s.name, s.color, s.dashed, false});
    // Many series: the legend goes right of the plot instead of over the data.
    bool outside = legend.size() > 4;
    Axes ax(f.canvas, panel_rect(pi, columns, int(panels.size()), kPanelWidth, kPanelHeight), p.title, p.xlabel,
            p.ylabel, outside ? Axes::legend_width(legend) + 8 : 0);
    double inf = std::numeric_limits<double>::infinity();
    double xlo = inf, xhi = -inf, ylo = inf, yhi = -inf;
    for (const Series& s : p.series) {
      ENGINE_CHECK(s.x.size() == s.y.size(),
                   "plot: series '" << s.name << "' has " << s.x.size() << " x and " << s.y.size() << " y values");
      for (size_t i = 0; i < s.x.size(); ++i)
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]))
          xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]), ylo = std::min(ylo, s.y[i]),
          yhi = std::max(yhi, s.y[i]);
    }
    if (!(xlo <= xhi)) xlo = 0, xhi = 1;
    if (!(ylo <= yhi)) ylo = 0, yhi = 1;
    if (xlo == xhi) xlo -= 1, xhi += 1;
    double xpad = (xhi - xlo) * 0.03;  // markers at the ends stay whole
    xlo -= xpad, xhi += xpad;
    if (p.y_from_zero) ylo = std::min(ylo, 0.0), yhi = std::max(yhi, 0.0);
    if (std::isfinite(p.y_min)) ylo = p.y_min;
    if (std::isfinite(p.y_max)) yhi = p.y_max;
    if (!std::isfinite(p.y_min) || !std::isfinite(p.y_max)) {
      double pad = (yhi - ylo) * 0.02;  // markers on the extremes stay inside
      double a = ylo - (ylo == 0 ? 0 : pad), b = yhi + pad;
      expand_to_ticks(&a, &b);
      if (!std::isfinite(p.y_min)) ylo = a;
      if (!std::isfinite(p.y_max)) yhi = b;
    }
    ax.set_x(xlo, xhi);
    ax.set_y(ylo, yhi);
    ax.set_integer_x(p.integer_x);
    ax.draw_background();
    std::vector<std::pair<double, double>> points;
    for (const Series& s : p.series) {
      bool have_prev = false;
      double px0 = 0, py0 = 0;
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
          have_prev = false;
          continue;
        }
        double X = ax.px(s.x[i]), Y = ax.py(s.y[i]);
        if (have_prev) f.canvas.line(px0, py0, X, Y, s.color, 3, s.dashed ? 8 : 0);
        if (s.x.size() <= size_t(kMarkerLimit)) {
          int cx = int(std::lround(X)), cy = int(std::lround(Y));
          f.canvas.fill_rect({cx - 3, cy - 3, cx + 4, cy + 4}, s.color);
        }
        px0 = X, py0 = Y, have_prev = true;
        points.emplace_back(s.x[i], s.y[i]);
      }
    }
    ax.draw_frame();
    if (outside)
      ax.legend_outside(legend);
    else
      ax.legend(legend, points);
    f.panels.push_back(ax.plot());
  }
  return f;
}

Figure bar_panels(const std::vector<BarPanel>& panels, int columns) {
  Figure f = make_grid_figure(panels.size(), columns, kPanelWidth, kPanelHeight);
  for (size_t pi = 0; pi < panels.size(); ++pi) {
    const BarPanel& p = panels[pi];
    size_t n = p.values.size();
    bool numeric = !p.edges.empty();
    ENGINE_CHECK(n > 0, "plot: bar panel '" << p.title << "' has no values");
    ENGINE_CHECK(!numeric || p.edges.size() == n + 1,
                 "plot: bar panel '" << p.title << "' has " << n << " values but " << p.edges.size() << " edges");
    ENGINE_CHECK(numeric || p.categories.empty() || p.categories.size() == n,
                 "plot: bar panel '" << p.title << "' has " << n << " values but " << p.categories.size() << " labels");
    Axes ax(f.canvas, panel_rect(pi, columns, int(panels.size()), kPanelWidth, kPanelHeight), p.title, p.xlabel,
            p.ylabel);
    double ylo = 0, yhi = 0;
    finite_range(p.values, &ylo, &yhi);
    if (std::isfinite(p.reference)) yhi = std::max(yhi, p.reference);
    if (yhi <= ylo) yhi = ylo + 1;
    yhi += (yhi - ylo) * 0.05;  // headroom above the tallest bar
    expand_to_ticks(&ylo, &yhi);
    if (numeric)
      ax.set_x(p.edges.front(), p.edges.back());
    else
      ax.set_x(-0.5, double(n) - 0.5);
    ax.set_y(ylo, yhi);
    ax.draw_background(numeric, true);
    Color edge = mix(p.color, colors::black, 0.35);
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(p.values[i]) || p.values[i] == 0) continue;
      double a = numeric ? p.edges[i] : double(i) - 0.4, b = numeric ? p.edges[i + 1] : double(i) + 0.4;
      int x0 = int(std::lround(ax.px(a))), x1 = int(std::lround(ax.px(b)));
      if (numeric && x1 - x0 > 2) x1 -= 1;  // a pixel between neighbouring bins
      int yb = int(std::lround(ax.py(std::max(0.0, ylo)))), yt = int(std::lround(ax.py(p.values[i])));
      Rect r{x0, std::min(yt, yb), std::max(x1, x0 + 1), std::max(yt, yb) + 1};
      f.canvas.fill_rect(r, p.color);
      if (r.width() > 4 && r.height() > 2) f.canvas.outline_rect(r, edge);
    }
    std::vector<LegendEntry> legend;
    if (std::isfinite(p.reference)) {
      double y = ax.py(p.reference);
      f.canvas.line(ax.plot().x0, y, ax.plot().x1 - 1, y, colors::red, 2, 8);
      if (!p.reference_label.empty()) legend.push_back({p.reference_label, colors::red, true, false});
    }
    std::vector<std::string> cats = p.categories;
    if (!numeric && cats.empty())
      for (size_t i = 0; i < n; ++i) cats.push_back(std::to_string(i));
    ax.draw_frame(numeric ? std::vector<std::string>{} : cats);
    std::vector<std::pair<double, double>> points;
    for (size_t i = 0; i < n; ++i) {
      double x = numeric ? 0.5 * (p.edges[i] + p.edges[i + 1]) : double(i);
      for (double t = 0; t <= 1.0; t += 0.25) points.emplace_back(x, p.values[i] * t);
    }
    ax.legend(legend, points);
    f.panels.push_back(ax.plot());
  }
  return f;
}

BarPanel histogram(const std::vector<double>& values, int bins, double lo, double hi, const std::string& title,
                   const std::string& xlabel, bool as_fraction) {
  ENGINE_CHECK(bins >= 1, "plot: a histogram needs at least one bin, got " << bins);
  if (!(lo < hi)) {
    lo = std::numeric_limits<double>::infinity(), hi = -lo;
    finite_range(values, &lo, &hi);
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (lo == hi) lo -= 0.5, hi += 0.5;
  }
  BarPanel p;
  p.title = title;
  p.xlabel = xlabel;
  p.ylabel = as_fraction ? "fraction" : "count";
  p.values.assign(size_t(bins), 0.0);
  for (int b = 0; b <= bins; ++b) p.edges.push_back(lo + (hi - lo) * b / bins);
  size_t total = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    int b = int(std::floor((v - lo) / (hi - lo) * bins));
    p.values[size_t(std::clamp(b, 0, bins - 1))] += 1;
    ++total;
  }
  if (as_fraction && total)
    for (double& v : p.values) v /= double(total);
  return p;
}

Figure heatmap(const Heatmap& h) {
  size_t rows = h.values.size();
  ENGINE_CHECK(rows > 0 && !h.values[0].empty(), "plot: heatmap '" << h.title << "' is empty");
  size_t cols = h.values[0].size();
  for (const auto& r : h.values)
    ENGINE_CHECK(r.size() == cols,
                 "plot: heatmap '" << h.title << "' has rows of " << cols << " and " << r.size() << " values");
  std::vector<std::string> rl = h.row_labels, cl = h.col_labels;
  for (size_t i = rl.size(); i < rows; ++i) rl.push_back(std::to_string(i));
  for (size_t i = cl.size(); i < cols; ++i) cl.push_back(std::to_string(i));
  int bar_room = 150;
  int width = std::max(kPanelWidth, int(cols) * 36 + 260) + bar_room;
  int widest = 0;
  for (const auto& s : cl) widest = std::max(widest, Canvas::text_width(s, kTickScale));
  int plot_w = width - bar_room - 150;
  bool vertical = widest + 6 > plot_w / int(cols);
  int extra_bottom = vertical ? std::max(0, widest - Canvas::text_height(kTickScale)) : 0;
  int height = std::max(kPanelHeight, int(rows) * 30 + 140) + extra_bottom;
  Figure f{Canvas(width, height), {}};
  Axes ax(f.canvas, {0, 0, width, height}, h.title, h.xlabel, h.ylabel, bar_room, extra_bottom);
  ax.set_x(-0.5, double(cols) - 0.5);
  ax.set_y(double(rows) - 0.5, -0.5);  // row 0 at the top
  ax.fit_left_margin(rl);
  double lo = 0, hi = 0;
  bool integers = true;
  for (const auto& r : h.values) {
    finite_range(r, &lo, &hi);
    for (double v : r) integers = integers && std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e9;
  }
  if (hi <= lo) hi = lo + 1;
  int th = Canvas::text_height(kTickScale);
  for (size_t i = 0; i < rows; ++i)
    for (size_t j = 0; j < cols; ++j) {
      double v = h.values[i][j];
      int x0 = int(std::lround(ax.px(double(j) - 0.5))), x1 = int(std::lround(ax.px(double(j) + 0.5)));
      int y0 = int(std::lround(ax.py(double(i) - 0.5))), y1 = int(std::lround(ax.py(double(i) + 0.5)));
      double t = (v - lo) / (hi - lo);
      Color c = std::isfinite(v) ? colormap(t) : colors::light_grey;
      f.canvas.fill_rect({x0, y0, x1 + 1, y1 + 1}, c);
      if (!h.annotate || !std::isfinite(v)) continue;
      std::string s = format_cell(v, integers);
      if (Canvas::text_width(s, kTickScale) + 4 <= x1 - x0 && th + 2 <= y1 - y0)
        f.canvas.text((x0 + x1) / 2, (y0 + y1) / 2 - th / 2 + 1, s, t < 0.6 ? colors::white : colors::black, kTickScale,
                      Align::center);
    }
  ax.draw_frame(cl, rl, vertical);
  // The colour bar: a vertical strip from lo (bottom) to hi (top) with its own ticks.
  const Rect& pr = ax.plot();
  Rect bar{pr.x1 + 28, pr.y0, pr.x1 + 52, pr.y1};
  for (int y = bar.y0; y < bar.y1; ++y) {
    double t = 1.0 - double(y - bar.y0) / std::max(1, bar.height() - 1);
    f.canvas.fill_rect({bar.x0, y, bar.x1, y + 1}, colormap(t));
  }
  f.canvas.outline_rect({bar.x0 - 1, bar.y0 - 1, bar.x1 + 1, bar.y1 + 1}, colors::black);
  double step = nice_step(lo, hi);
  int label_right = bar.x1;
  for (double t : nice_ticks(lo, hi)) {
    int y = int(std::lround(bar.y1 - 1 - (t - lo) / (hi - lo) * (bar.height() - 1)));
    f.canvas.line(bar.x1, y, bar.x1 + 5, y, colors::black);
    int w = f.canvas.text(bar.x1 + 9, y - th / 2, format_tick(t, step), colors::black, kTickScale);
    label_right = std::max(label_right, bar.x1 + 9 + w);
  }
  if (!h.colorbar_label.empty())
    f.canvas.text_vertical(std::min(width - 12, label_right + 16), (bar.y0 + bar.y1) / 2, h.colorbar_label,
                           colors::black, kLabelScale);
  f.panels.push_back(pr);
  f.panels.push_back(bar);
  return f;
}

Figure reliability_diagram(const std::vector<int64_t>& count, const std::vector<double>& conf_sum,
                           const std::vector<double>& correct_sum, const std::string& title) {
  size_t nb = count.size();
  ENGINE_CHECK(nb > 0 && conf_sum.size() == nb && correct_sum.size() == nb,
               "plot: reliability diagram needs equal-length bins, got " << nb << ", " << conf_sum.size() << ", "
                                                                         << correct_sum.size());
  int top_h = kPanelHeight + 120, bottom_h = 300;
  Figure f{Canvas(kPanelWidth, top_h + bottom_h), {}};
  Axes ax(f.canvas, {0, 0, kPanelWidth, top_h}, title, "confidence", "accuracy");
  ax.set_x(0, 1);
  ax.set_y(0, 1);
  ax.draw_background();
  Color bar = colors::blue, gap = colors::red;
  int64_t total = 0;
  double all_conf = 0, all_correct = 0;
  for (size_t b = 0; b < nb; ++b) {
    total += count[b];
    all_conf += conf_sum[b];
    all_correct += correct_sum[b];
    if (count[b] == 0) continue;
    double acc = correct_sum[b] / double(count[b]), conf = conf_sum[b] / double(count[b]);
    int x0 = int(std::lround(ax.px(double(b) / double(nb)))), x1 = int(std::lround(ax.px(double(b + 1) / double(nb))));
    int y0 = int(std::lround(ax.py(0))), ya = int(std::lround(ax.py(acc))), yc = int(std::lround(ax.py(conf)));
    f.canvas.fill_rect({x0, ya, x1, y0 + 1}, bar);
    f.canvas.outline_rect({x0, ya, x1 + 1, y0 + 1}, mix(bar, colors::black, 0.4));
    // The gap between accuracy and mean confidence: hatched, and shaded where it
    // rises above the bar (over-confidence), outlined in the gap colour.
    Rect g{x0, std::min(ya, yc), x1 + 1, std::max(ya, yc) + 1};
    if (yc < ya) f.canvas.fill_rect(g, gap, 0.3);
    for (int d = -g.height(); d < g.width(); d += 6)
      for (int k = 0; k < g.height(); ++k) {
        int x = g.x0 + d + k, y = g.y1 - 1 - k;
        if (x >= g.x0 && x < g.x1) f.canvas.set(x, y, gap);
      }
    if (g.height() > 2) f.canvas.outline_rect(g, gap);
  }
  f.canvas.line(ax.px(0), ax.py(0), ax.px(1), ax.py(1), colors::grey, 2, 10);
  ax.draw_frame();
  std::vector<std::pair<double, double>> points;
  for (double t = 0; t <= 1.0; t += 0.05) points.emplace_back(t, t);
  for (size_t b = 0; b < nb; ++b)
    if (count[b]) points.emplace_back((b + 0.5) / double(nb), correct_sum[b] / double(count[b]));
  ax.legend({{"accuracy", bar, false, true},
             {"gap to confidence", gap, false, true},
             {"perfect calibration", colors::grey, true, false}},
            points);
  f.panels.push_back(ax.plot());

  Axes hx(f.canvas, {0, top_h, kPanelWidth, top_h + bottom_h}, "", "confidence", "share");
  std::vector<double> share(nb, 0.0);
  double ymax = 0;
  for (size_t b = 0; b < nb; ++b) {
    share[b] = total ? double(count[b]) / double(total) : 0.0;
    ymax = std::max(ymax, share[b]);
  }
  double ylo = 0, yhi = std::max(ymax * 1.05, 1e-3);
  expand_to_ticks(&ylo, &yhi);
  hx.set_x(0, 1);
  hx.set_y(0, yhi);
  hx.draw_background();
  for (size_t b = 0; b < nb; ++b) {
    if (!count[b]) continue;
    int x0 = int(std::lround(hx.px(double(b) / double(nb)))), x1 = int(std::lround(hx.px(double(b + 1) / double(nb))));
    Rect r{x0, int(std::lround(hx.py(share[b]))), x1 + 1, int(std::lround(hx.py(0))) + 1};
    f.canvas.fill_rect(r, colors::grey);
    f.canvas.outline_rect(r, colors::black);
  }
  std::vector<LegendEntry> legend;
  if (total) {
    double mc = all_conf / double(total), ma = all_correct / double(total);
    f.canvas.line(hx.px(mc), hx.py(0), hx.px(mc), hx.py(yhi), colors::orange, 3, 8);
    f.canvas.line(hx.px(ma), hx.py(0), hx.px(ma), hx.py(yhi), colors::blue, 3);
    legend = {{"mean confidence", colors::orange, true, false}, {"accuracy", colors::blue, false, false}};
  }
  hx.draw_frame();
  std::vector<std::pair<double, double>> hpoints;
  for (size_t b = 0; b < nb; ++b)
    for (double t = 0; t <= 1.0; t += 0.25) hpoints.emplace_back((b + 0.5) / double(nb), share[b] * t);
  hx.legend(legend, hpoints);
  f.panels.push_back(hx.plot());
  return f;
}

Figure image_grid(const std::vector<GridImage>& images, int columns, int scale, const std::string& title) {
  ENGINE_CHECK(!images.empty() && columns >= 1 && scale >= 1,
               "plot: image grid needs images, columns >= 1 and "
               "scale >= 1");
  int img_w = 0, img_h = 0;
  size_t lines = 0;
  for (const auto& g : images) {
    img_w = std::max(img_w, g.width * scale);
    img_h = std::max(img_h, g.height * scale);
    lines = std::max(lines, g.captions.size());
  }
  int pad = 10, line_h = Canvas::text_height(kTickScale) + 5;
  // Wide enough for the longest caption, up to 16 characters (longer ones are cut).
  int text_w = 0;
  for (const auto& g : images)
    for (const auto& cap : g.captions)
      text_w = std::max(text_w, Canvas::text_width(cap.first.substr(0, 16), kTickScale));
  int cell_w = std::max(img_w, text_w) + 2 * pad;
  int cell_h = img_h + pad + int(lines) * line_h + pad;
  int cols = std::min(columns, int(images.size()));
  int rows = int((images.size() + size_t(cols) - 1) / size_t(cols));
  int title_h = title.empty() ? pad : Canvas::text_height(kTitleScale) + 3 * pad;
  int width = std::max(cols * cell_w + 2 * pad, Canvas::text_width(title, kTitleScale) + 4 * pad);
  Figure f{Canvas(width, title_h + rows * cell_h + pad), {}};
  if (!title.empty()) f.canvas.text(width / 2, 2 * pad, title, colors::black, kTitleScale, Align::center);
  int x_start = (width - cols * cell_w) / 2;
  for (size_t i = 0; i < images.size(); ++i) {
    const GridImage& g = images[i];
    int cx = x_start + int(i % size_t(cols)) * cell_w, cy = title_h + int(i / size_t(cols)) * cell_h;
    int ix = cx + (cell_w - g.width * scale) / 2, iy = cy;
    f.canvas.image(ix, iy, g.chw, g.channels, g.height, g.width, scale);
    f.canvas.outline_rect({ix - 1, iy - 1, ix + g.width * scale + 1, iy + g.height * scale + 1}, colors::grey);
    f.panels.push_back({ix, iy, ix + g.width * scale, iy + g.height * scale});
    int max_chars = (cell_w - 4) / (kGlyphAdvance * kTickScale);
    for (size_t l = 0; l < g.captions.size(); ++l) {
      std::string s = g.captions[l].first;
      if (int(s.size()) > max_chars) s = s.substr(0, size_t(std::max(0, max_chars - 1))) + ".";
      f.canvas.text(cx + cell_w / 2, iy + img_h + pad / 2 + int(l) * line_h, s, g.captions[l].second, kTickScale,
                    Align::center);
    }
  }
  return f;
}

}  // namespace engine::plot
