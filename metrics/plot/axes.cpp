#include "metrics/plot/axes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace engine::plot {
namespace {

constexpr int kTick = 6, kGap = 8;

}  // namespace

double nice_step(double lo, double hi, int target) {
  double range = hi - lo;
  if (!(range > 0) || !std::isfinite(range)) return 1.0;
  double raw = range / std::max(1, target);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double f = raw / mag;
  double nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return nice * mag;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> t;
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi < lo) return t;
  double step = nice_step(lo, hi, target);
  double eps = step * 1e-9;
  for (double v = std::ceil((lo - eps) / step) * step; v <= hi + eps && t.size() < 100; v += step)
    t.push_back(std::abs(v) < eps ? 0.0 : v);
  return t;
}

std::string format_tick(double v, double step) {
  char buf[32];
  double a = std::max(std::abs(v), std::abs(step));
  if (a >= 1e6 || (a > 0 && a < 1e-4)) {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  } else {
    int decimals = step >= 1 ? 0 : std::min(6, int(std::ceil(-std::log10(step) - 1e-9)));
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  return buf;
}

void expand_to_ticks(double* lo, double* hi, int target) {
  if (!std::isfinite(*lo) || !std::isfinite(*hi)) {
    *lo = 0;
    *hi = 1;
  }
  if (*hi - *lo <= 1e-12 * std::max(1.0, std::abs(*hi))) {
    double pad = *hi == 0 ? 1.0 : std::abs(*hi) * 0.1;
    *lo -= pad;
    *hi += pad;
  }
  double step = nice_step(*lo, *hi, target);
  *lo = std::floor(*lo / step + 1e-9) * step;
  *hi = std::ceil(*hi / step - 1e-9) * step;
}

Axes::Axes(Canvas& canvas, Rect panel, std::string title, std::string xlabel, std::string ylabel, int extra_right,
           int extra_bottom)
    : canvas_(canvas), panel_(panel), title_(std::move(title)), xlabel_(std::move(xlabel)), ylabel_(std::move(ylabel)) {
  int th = Canvas::text_height(kTickScale), lh = Canvas::text_height(kLabelScale);
  int top = kGap * 2 + (title_.empty() ? 0 : Canvas::text_height(kTitleScale));
  int bottom = kTick + kGap + th + kGap + (xlabel_.empty() ? 0 : lh + kGap) + extra_bottom;
  int right = kGap * 3 + extra_right;
  plot_ = {panel.x0, panel.y0 + top, panel.x1 - right, panel.y1 - bottom};
  if (plot_.height() < 20) plot_.y1 = plot_.y0 + 20;
  fit_left_margin({"0.00"});
}

void Axes::fit_left_margin(const std::vector<std::string>& labels) {
  int w = 0;
  for (const auto& s : labels) w = std::max(w, Canvas::text_width(s, kTickScale));
  int lh = Canvas::text_height(kLabelScale);
  // The tick labels are right-aligned against the axis; the y label sits left of them.
  plot_.x0 = panel_.x0 + kGap + (ylabel_.empty() ? 0 : lh + kGap) + w + kTick + kGap;
  if (plot_.width() < 20) plot_.x1 = plot_.x0 + 20;
}

void Axes::set_y(double lo, double hi) {
  y_lo_ = lo;
  y_hi_ = hi;
  double step = nice_step(lo, hi);
  std::vector<std::string> labels;
  for (double t : nice_ticks(lo, hi)) labels.push_back(format_tick(t, step));
  if (!labels.empty()) fit_left_margin(labels);
}

std::vector<double> Axes::x_ticks(double* step) const {
  *step = nice_step(x_lo_, x_hi_);
  if (!integer_x_ || *step >= 1) return nice_ticks(x_lo_, x_hi_);
  *step = 1;
  std::vector<double> t;
  for (double v = std::ceil(x_lo_); v <= x_hi_ + 1e-9 && t.size() < 100; v += 1) t.push_back(v);
  return t;
}

double Axes::px(double x) const {
  double span = x_hi_ - x_lo_;
  return plot_.x0 + (span == 0 ? 0.5 : (x - x_lo_) / span) * (plot_.width() - 1);
}

double Axes::py(double y) const {
  double span = y_hi_ - y_lo_;
  return plot_.y1 - 1 - (span == 0 ? 0.5 : (y - y_lo_) / span) * (plot_.height() - 1);
}

void Axes::draw_background(bool x_grid, bool y_grid) {
  canvas_.fill_rect(plot_, colors::white);
  if (y_grid)
    for (double t : nice_ticks(y_lo_, y_hi_)) {
      int y = int(std::lround(py(t)));
      canvas_.line(plot_.x0, y, plot_.x1 - 1, y, colors::light_grey);
    }
  double step;
  if (x_grid)
    for (double t : x_ticks(&step)) {
      int x = int(std::lround(px(t)));
      canvas_.line(x, plot_.y0, x, plot_.y1 - 1, colors::light_grey);
    }
}

void Axes::draw_frame(const std::vector<std::string>& cats, const std::vector<std::string>& ycats, bool vertical_x) {
  Canvas& c = canvas_;
  // Data drawn past the plot area (thick lines, markers) is cut at the frame.
  Color bg = colors::white;
  c.fill_rect({panel_.x0, panel_.y0, panel_.x1, plot_.y0 - 1}, bg);
  c.fill_rect({panel_.x0, plot_.y1 + 1, panel_.x1, panel_.y1}, bg);
  c.fill_rect({panel_.x0, plot_.y0 - 1, plot_.x0 - 1, plot_.y1 + 1}, bg);
  c.fill_rect({plot_.x1 + 1, plot_.y0 - 1, std::min(panel_.x1, plot_.x1 + kGap * 2), plot_.y1 + 1}, bg);
  c.outline_rect({plot_.x0 - 1, plot_.y0 - 1, plot_.x1 + 1, plot_.y1 + 1}, colors::black);
  int th = Canvas::text_height(kTickScale);
  int tick_y = plot_.y1 + kTick + kGap / 2;
  int label_bottom = tick_y + th;  // the lowest tick label pixel, for the x label
  if (cats.empty()) {
    double step;
    for (double t : x_ticks(&step)) {
      int x = int(std::lround(px(t)));
      c.line(x, plot_.y1, x, plot_.y1 + kTick - 1, colors::black);
      c.text(x, tick_y, format_tick(t, step), colors::black, kTickScale, Align::center);
    }
  } else {
    // Thin the labels until they no longer overlap.
    int widest = 0;
    for (const auto& s : cats) widest = std::max(widest, Canvas::text_width(s, kTickScale));
    double per = cats.size() > 1 ? std::abs(px(1) - px(0)) : plot_.width();
    int need = vertical_x ? th : widest;
    int every = std::max(1, int(std::ceil((need + kGap) / std::max(per, 1.0))));
    for (size_t i = 0; i < cats.size(); ++i) {
      int x = int(std::lround(px(double(i))));
      c.line(x, plot_.y1, x, plot_.y1 + kTick - 1, colors::black);
      if (i % size_t(every) != 0) continue;
      if (vertical_x) {
        int w = Canvas::text_width(cats[i], kTickScale);
        c.text_vertical(x, tick_y + w / 2, cats[i], colors::black, kTickScale);
        label_bottom = std::max(label_bottom, tick_y + w);
      } else {
        c.text(x, tick_y, cats[i], colors::black, kTickScale, Align::center);
      }
    }
  }
  if (ycats.empty()) {
    double ystep = nice_step(y_lo_, y_hi_);
    for (double t : nice_ticks(y_lo_, y_hi_)) {
      int y = int(std::lround(py(t)));
      c.line(plot_.x0 - kTick, y, plot_.x0 - 1, y, colors::black);
      c.text(plot_.x0 - kTick - kGap / 2, y - th / 2, format_tick(t, ystep), colors::black, kTickScale, Align::right);
    }
  } else {
    double per = ycats.size() > 1 ? std::abs(py(1) - py(0)) : plot_.height();
    int every = std::max(1, int(std::ceil((th + 2) / std::max(per, 1.0))));
    for (size_t i = 0; i < ycats.size(); ++i) {
      int y = int(std::lround(py(double(i))));
      c.line(plot_.x0 - kTick, y, plot_.x0 - 1, y, colors::black);
      if (i % size_t(every) == 0)
        c.text(plot_.x0 - kTick - kGap / 2, y - th / 2, ycats[i], colors::black, kTickScale, Align::right);
    }
  }
  if (!xlabel_.empty())
    c.text((plot_.x0 + plot_.x1) / 2, label_bottom + kGap, xlabel_, colors::black, kLabelScale, Align::center);
  if (!ylabel_.empty())
    c.text_vertical(panel_.x0 + kGap + Canvas::text_height(kLabelScale) / 2, (plot_.y0 + plot_.y1) / 2, ylabel_,
                    colors::black, kLabelScale);
  if (!title_.empty()) {
    std::string t = title_;
    int room = panel_.width() - 2 * kGap;
    while (t.size() > 4 && Canvas::text_width(t, kTitleScale) > room) t = t.substr(0, t.size() - 4) + "...";
    c.text((plot_.x0 + plot_.x1) / 2, panel_.y0 + kGap, t, colors::black, kTitleScale, Align::center);
  }
}

int Axes::legend_width(const std::vector<LegendEntry>& entries) {
  int w = 0;
  for (const auto& e : entries) w = std::max(w, Canvas::text_width(e.name, kTickScale));
  return w + 24 + 3 * kGap / 2 + kGap;  // sample line, gaps, text
}

namespace {
int legend_height(size_t n) { return (Canvas::text_height(kTickScale) + 6) * int(n) + kGap; }
}  // namespace

void Axes::legend(const std::vector<LegendEntry>& entries, const std::vector<std::pair<double, double>>& points) {
  if (entries.empty()) return;
  int w = legend_width(entries), h = legend_height(entries.size());
  Rect corners[4] = {{plot_.x1 - w - kGap, plot_.y0 + kGap, plot_.x1 - kGap, plot_.y0 + kGap + h},
                     {plot_.x0 + kGap, plot_.y0 + kGap, plot_.x0 + kGap + w, plot_.y0 + kGap + h},
                     {plot_.x1 - w - kGap, plot_.y1 - kGap - h, plot_.x1 - kGap, plot_.y1 - kGap},
                     {plot_.x0 + kGap, plot_.y1 - kGap - h, plot_.x0 + kGap + w, plot_.y1 - kGap}};
  int best = 0;
  size_t best_hits = std::numeric_limits<size_t>::max();
  for (int k = 0; k < 4; ++k) {
    size_t hits = 0;
    for (const auto& [x, y] : points) {
      double X = px(x), Y = py(y);
      hits += X >= corners[k].x0 - 4 && X < corners[k].x1 + 4 && Y >= corners[k].y0 - 4 && Y < corners[k].y1 + 4;
    }
    if (hits < best_hits) best_hits = hits, best = k;
  }
  draw_legend(entries, corners[best]);
}

void Axes::legend_outside(const std::vector<LegendEntry>& entries) {
  if (entries.empty()) return;
  int x0 = plot_.x1 + 2 * kGap;
  draw_legend(entries, {x0, plot_.y0, x0 + legend_width(entries), plot_.y0 + legend_height(entries.size())});
}

void Axes::draw_legend(const std::vector<LegendEntry>& entries, const Rect& r) {
  int row = Canvas::text_height(kTickScale) + 6, sample = 24;
  canvas_.fill_rect(r, colors::white, 0.9);
  canvas_.outline_rect(r, colors::grey);
  for (size_t i = 0; i < entries.size(); ++i) {
    const LegendEntry& e = entries[i];
    int y = r.y0 + kGap / 2 + int(i) * row, mid = y + row / 2 - 1;
    int x = r.x0 + kGap / 2;
    if (e.box)
      canvas_.fill_rect({x + 4, mid - 6, x + sample - 4, mid + 6}, e.color);
    else
      canvas_.line(x, mid, x + sample, mid, e.color, 3, e.dashed ? 5 : 0);
    canvas_.text(x + sample + kGap, y + 3, e.name, colors::black, kTickScale);
  }
}

}  // namespace engine::plot
