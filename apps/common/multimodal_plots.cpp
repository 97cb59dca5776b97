#include "apps/common/multimodal_plots.h"

#include <algorithm>
#include <cmath>

#include "apps/common/evaluation.h"
#include "metrics/plot/charts.h"

namespace engine::app {

namespace {

std::string class_name(const data::Dataset& d, int64_t k) {
  return size_t(k) < d.class_names.size() ? d.class_names[size_t(k)] : std::to_string(k);
}

// Up to `lines` lines of at most `width` characters, cut at spaces; "..." when cut short.
std::vector<std::string> wrap(const std::string& text, size_t width, size_t lines) {
  std::vector<std::string> out;
  std::string line;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(pos, end - pos);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out.push_back(line);
      line.clear();
      if (out.size() == lines) break;
    }
    line += (line.empty() ? "" : " ") + word.substr(0, width);
    pos = end + 1;
  }
  if (out.size() < lines && !line.empty()) out.push_back(line);
  if (pos < text.size() && !out.empty()) out.back() = out.back().substr(0, width - std::min<size_t>(width, 3)) + "...";
  return out;
}

// The sample's image as RGB u8 [3, H, W], with each token's expert colour blended over
// its patch of the token grid.
std::vector<uint8_t> expert_overlay(const data::Dataset& d, int64_t i, const int64_t* experts, int64_t gh, int64_t gw) {
  const int64_t C = d.channels(), H = d.height(), W = d.width();
  const uint8_t* src = d.images.data<uint8_t>() + i * C * H * W;
  std::vector<uint8_t> out(size_t(3 * H * W));
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      const int64_t token = (y * gh / H) * gw + (x * gw / W);
      const plot::Color e = plot::series_color(int(experts[token]));
      const uint8_t rgb[3] = {e.r, e.g, e.b};
      for (int64_t ch = 0; ch < 3; ++ch) {
        const double pixel = double(src[(C == 3 ? ch : 0) * H * W + y * W + x]);
        out[size_t(ch * H * W + y * W + x)] = uint8_t(std::lround(0.55 * pixel + 0.45 * double(rgb[ch])));
      }
    }
  return out;
}

plot::Figure attention_heatmap(const models::MultimodalTrace& t, const data::Dataset& sub,
                               const std::vector<int64_t>& text_classes, int64_t K) {
  const Tensor& a = t.attention.back();  // [n, P, M]
  const int64_t n = a.size(0), P = a.size(1), M = a.size(2);
  plot::Heatmap h;
  h.title = "cross-attention to each class's descriptions";
  h.xlabel = "class of the description";
  h.ylabel = "test image (true class)";
  h.colorbar_label = "attention";
  for (int64_t k = 0; k < K; ++k) h.col_labels.push_back(class_name(sub, k));
  const float* w = a.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> row(size_t(K), 0.0);
    for (int64_t p = 0; p < P; ++p)
      for (int64_t m = 0; m < M; ++m)
        row[size_t(text_classes[size_t(m)])] += double(w[(i * P + p) * M + m]) / double(P);
    h.values.push_back(row);
    h.row_labels.push_back(std::to_string(i) + ": " + class_name(sub, sub.labels.data<int64_t>()[i]));
  }
  h.annotate = K <= 12;
  return plot::heatmap(h);
}

plot::Figure modality_bars(const models::MultimodalTrace& t, int64_t E) {
  std::vector<plot::BarPanel> panels;
  for (size_t b = 0; b < t.image_experts.size(); ++b) {
    for (int modality = 0; modality < 2; ++modality) {
      const Tensor& ex = modality == 0 ? t.image_experts[b] : t.text_experts[b];
      if (!ex.defined()) continue;
      std::vector<double> share(size_t(E), 0.0);
      for (int64_t i = 0; i < ex.numel(); ++i) share[size_t(ex.data<int64_t>()[i])] += 1.0 / double(ex.numel());
      plot::BarPanel p;
      p.title = "block " + std::to_string(b) + ": " + (modality == 0 ? "image" : "text") + " tokens";
      p.xlabel = "expert";
      p.ylabel = "share of tokens (top-1)";
      p.values = share;
      for (int64_t e = 0; e < E; ++e) p.categories.push_back("e" + std::to_string(e));
      p.color = modality == 0 ? plot::colors::blue : plot::colors::orange;
      p.reference = 1.0 / double(E);
      p.reference_label = "uniform";
      panels.push_back(p);
    }
  }
  return plot::bar_panels(panels, 2);
}

}  // namespace

std::vector<std::string> plot_multimodal(models::MultimodalMoE& model, const data::Dataset& test,
                                         const std::vector<int64_t>& rows_in, const TrainConfig& config, Device device,
                                         const data::ClassDescriptions& descriptions, const std::string& plot_dir) {
  std::vector<int64_t> rows = rows_in;
  rows.resize(std::min<size_t>(rows.size(), 16));
  if (rows.empty()) return {};
  data::Dataset sub = data::gather(test, rows);
  sub.images = sub.images.contiguous();
  TrainConfig c = config;
  c.training.eval_batch_size = int64_t(rows.size());  // one batch: one trace
  model.keep_trace(true);
  EvalOutput out = evaluate_logits(model, sub, c, device);
  model.keep_trace(false);
  const models::MultimodalTrace& t = model.trace();
  const int64_t K = model.config().resnet.num_classes, E = model.config().moe.num_experts, n = sub.size();
  const std::vector<int64_t>& text_classes = model.config().text_classes;
  std::vector<std::string> texts;
  for (const auto& per_class : descriptions.descriptions) texts.insert(texts.end(), per_class.begin(), per_class.end());
  std::vector<std::string> paths;
  auto save = [&](const plot::Figure& f, const std::string& name) {
    f.save(plot_dir + "/" + name);
    paths.push_back(plot_dir + "/" + name);
  };
  save(attention_heatmap(t, sub, text_classes, K), "multimodal_attention.png");
  save(modality_bars(t, E), "multimodal_modality.png");

  const int scale = sub.height() <= 32 ? 4 : 2;
  std::vector<std::vector<uint8_t>> overlays;
  std::vector<plot::GridImage> expert_items, prediction_items;
  const Tensor& a = t.attention.back();
  const int64_t P = a.size(1), M = a.size(2);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = sub.labels.data<int64_t>()[i];
    overlays.push_back(expert_overlay(sub, i, t.image_experts.back().data<int64_t>() + i * P, t.grid_h, t.grid_w));
    plot::GridImage g;
    g.chw = overlays.back().data();
    g.channels = 3;
    g.height = int(sub.height());
    g.width = int(sub.width());
    g.captions.push_back({class_name(sub, label), plot::colors::black});
    std::vector<int64_t> count(size_t(E), 0);
    for (int64_t p = 0; p < P; ++p) ++count[size_t(t.image_experts.back().data<int64_t>()[i * P + p])];
    for (int64_t e = 0; e < E; ++e)
      if (count[size_t(e)] > 0)
        g.captions.push_back({"e" + std::to_string(e) + " " +
                                  std::to_string(int(std::lround(100.0 * double(count[size_t(e)]) / double(P)))) + "%",
                              plot::series_color(int(e))});
    expert_items.push_back(g);

    const float* logits = out.logit_data() + i * K;
    const int64_t pred = int64_t(std::max_element(logits, logits + K) - logits);
    std::vector<double> by_description(size_t(M), 0.0);
    for (int64_t p = 0; p < P; ++p)
      for (int64_t m = 0; m < M; ++m) by_description[size_t(m)] += double(a.data<float>()[(i * P + p) * M + m]);
    const size_t top = size_t(std::max_element(by_description.begin(), by_description.end()) - by_description.begin());
    plot::GridImage q;
    q.chw = sub.images.data<uint8_t>() + i * sub.channels() * sub.height() * sub.width();
    q.channels = int(sub.channels());
    q.height = int(sub.height());
    q.width = int(sub.width());
    q.captions.push_back({class_name(sub, label), plot::colors::black});
    q.captions.push_back({class_name(sub, pred), pred == label ? plot::colors::green : plot::colors::red});
    if (top < texts.size())
      for (const auto& line : wrap(texts[top], size_t(sub.width() * scale / 6), 3))
        q.captions.push_back({line, plot::colors::blue});
    prediction_items.push_back(q);
  }
  save(plot::image_grid(expert_items, 8, scale,
                        "top-1 expert of each image token (last block): share of the image's tokens per expert"),
       "multimodal_experts.png");
  save(plot::image_grid(prediction_items, 8, scale,
                        "true class, prediction, and the description the image attended to most"),
       "multimodal_predictions.png");
  return paths;
}

}  // namespace engine::app
