#pragma once
// The charts eval_app and report_app draw: line panels (training curves, accuracy vs
// severity), bar panels and histograms (expert load, confidence), heatmaps with a
// colour bar (expert x class counts), reliability diagrams and image grids. Each
// returns a Figure: the canvas and the plot area of every panel, in order.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "metrics/plot/axes.h"
#include "metrics/plot/canvas.h"

namespace engine::plot {

struct Figure {
  Canvas canvas;
  std::vector<Rect> panels;
  void save(const std::string& path) const { canvas.save_png(path); }
};

constexpr int kPanelWidth = 640, kPanelHeight = 480;

struct Series {
  std::string name;
  std::vector<double> x, y;  // NaN y values are gaps
  Color color = colors::blue;
  bool dashed = false;
};

struct LinePanel {
  std::string title, xlabel, ylabel;
  std::vector<Series> series;
  bool y_from_zero = false;         // include 0 in the y range
  double y_min = NAN, y_max = NAN;  // fixed y limits where given
  bool integer_x = false;           // ticks at whole numbers only (epochs, severities)
};

// Panels laid out row by row, `columns` per row.
Figure line_panels(const std::vector<LinePanel>& panels, int columns = 3);

struct BarPanel {
  std::string title, xlabel, ylabel;
  std::vector<double> values;
  // Either one label per bar (categorical x axis) or values.size() + 1 bin edges
  // (numeric x axis, a histogram).
  std::vector<std::string> categories;
  std::vector<double> edges;
  Color color = colors::blue;
  double reference = NAN;  // a dashed horizontal line (e.g. the uniform load 1/E)
  std::string reference_label;
};

Figure bar_panels(const std::vector<BarPanel>& panels, int columns = 2);

// A histogram of `values` over `bins` equal-width bins of [lo, hi]; values outside
// are counted in the end bins. With lo >= hi the data's range is used.
BarPanel histogram(const std::vector<double>& values, int bins, double lo, double hi, const std::string& title,
                   const std::string& xlabel, bool as_fraction = true);

struct Heatmap {
  std::string title, xlabel, ylabel, colorbar_label;
  std::vector<std::vector<double>> values;  // rows x columns
  std::vector<std::string> row_labels, col_labels;
  bool annotate = true;  // write each value in its cell where it fits
};

// Plot area of the matrix first, then of the colour bar.
Figure heatmap(const Heatmap& h);

// One bin per entry (count, summed confidence, summed correctness), equal-width
// bins over [0, 1]. The top panel: accuracy bars against the diagonal with the gap
// to each bin's mean confidence shaded; the bottom: the share of samples per bin.
Figure reliability_diagram(const std::vector<int64_t>& count, const std::vector<double>& confidence_sum,
                           const std::vector<double>& correct_sum, const std::string& title);

struct GridImage {
  const uint8_t* chw = nullptr;  // u8, CHW
  int channels = 1, height = 0, width = 0;
  std::vector<std::pair<std::string, Color>> captions;  // lines under the image
};

// The images in rows of `columns`, each scaled by `scale`; a title above.
Figure image_grid(const std::vector<GridImage>& images, int columns, int scale, const std::string& title);

}  // namespace engine::plot
