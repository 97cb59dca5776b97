#pragma once
// Axes on a canvas: a plot area inside a panel, linear data -> pixel mapping, a
// frame with ticks, grid lines, tick labels, axis labels, a title and a legend.
#include <string>
#include <vector>

#include "metrics/plot/canvas.h"

namespace engine::plot {

// Text scales used by every chart (the 5x7 font times this).
constexpr int kTitleScale = 2, kLabelScale = 2, kTickScale = 2;

// Round values covering [lo, hi] in steps of 1, 2 or 5 x 10^k, about `target` steps.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);
// The step nice_ticks would use.
double nice_step(double lo, double hi, int target = 5);
// A tick label with as many decimals as the step needs ("0.25", "1e+04" for huge values).
std::string format_tick(double v, double step);
// [lo, hi] widened outwards to multiples of the nice step (a flat range is widened first).
void expand_to_ticks(double* lo, double* hi, int target = 5);

struct LegendEntry {
  std::string name;
  Color color;
  bool dashed = false;
  bool box = false;  // a filled square instead of a line sample
};

class Axes {
 public:
  // `panel` is the whole area given to this chart; the plot area leaves room for the
  // title above, the x label and tick labels below, the y label and tick labels left.
  // extra_right reserves pixels right of the plot area (a colour bar).
  Axes(Canvas& canvas, Rect panel, std::string title, std::string xlabel, std::string ylabel, int extra_right = 0,
       int extra_bottom = 0);
  void set_x(double lo, double hi) { x_lo_ = lo, x_hi_ = hi; }
  // Also moves the left edge of the plot area to fit the y tick labels.
  void set_y(double lo, double hi);
  // Moves the left edge of the plot area to fit these y labels (categories).
  void fit_left_margin(const std::vector<std::string>& labels);
  // x ticks at whole numbers only (epochs, severities).
  void set_integer_x(bool on) { integer_x_ = on; }
  double x_lo() const { return x_lo_; }
  double x_hi() const { return x_hi_; }
  double y_lo() const { return y_lo_; }
  double y_hi() const { return y_hi_; }
  const Rect& plot() const { return plot_; }
  Canvas& canvas() { return canvas_; }

  double px(double x) const;  // data x -> pixel column
  double py(double y) const;  // data y -> pixel row

  // Grid lines and the white plot background; call before drawing data.
  void draw_background(bool x_grid = true, bool y_grid = true);
  // Frame, ticks and tick labels, axis labels and title; call after drawing data.
  // Ticks are numeric unless categories are given: one label per unit position
  // 0..n-1 (on x turned upright when `vertical_x`, for long names).
  void draw_frame(const std::vector<std::string>& x_categories = {}, const std::vector<std::string>& y_categories = {},
                  bool vertical_x = false);
  // A legend box in the plot corner that covers the fewest of the given points.
  void legend(const std::vector<LegendEntry>& entries, const std::vector<std::pair<double, double>>& points);
  // A legend right of the plot area, top-aligned (reserve legend_width() + 16 as extra_right).
  void legend_outside(const std::vector<LegendEntry>& entries);
  static int legend_width(const std::vector<LegendEntry>& entries);

 private:
  Canvas& canvas_;
  Rect panel_, plot_;
  std::string title_, xlabel_, ylabel_;
  double x_lo_ = 0, x_hi_ = 1, y_lo_ = 0, y_hi_ = 1;
  bool integer_x_ = false;

  std::vector<double> x_ticks(double* step) const;
  void draw_legend(const std::vector<LegendEntry>& entries, const Rect& box);
};

}  // namespace engine::plot
