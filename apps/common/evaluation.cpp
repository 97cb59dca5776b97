#include "apps/common/evaluation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "data/loader.h"
#include "data/registry.h"
#include "engine/autograd/variable.h"

namespace engine::app {

namespace {

// log((softmax(a) + softmax(b)) / 2) per row, on the CPU in f32.
Tensor log_mean_probabilities(const Tensor& a, const Tensor& b) {
  Tensor mean = ops::mul(ops::add(ops::softmax(a, 1), ops::softmax(b, 1)), 0.5);
  return ops::log(ops::clamp(mean, 1e-30, 1.0)).contiguous();
}

// images [N, C, H, W] mirrored left to right.
Tensor mirrored(const Tensor& images) {
  const int64_t W = images.size(3);
  std::vector<int64_t> reversed(static_cast<size_t>(W));
  for (int64_t i = 0; i < W; ++i) reversed[size_t(i)] = W - 1 - i;
  return ops::index_select(images, 3, Tensor::from_data(reversed.data(), {W}, images.device())).contiguous();
}

}  // namespace

EvalOutput evaluate_logits(nn::Module& model, const data::Dataset& d, const TrainConfig& c, Device device,
                           const EvalHooks& hooks, bool average_hflip) {
  auto t0 = std::chrono::steady_clock::now();
  NoGradGuard ng;
  bool was_training = model.is_training();
  model.eval();
  data::LoaderOptions lo;
  lo.batch_size = c.training.eval_batch_size;
  lo.shuffle = false;
  lo.normalization = data::dataset_normalization(c.data.dataset);  // as in training
  lo.prefetch = c.data.prefetch;
  EvalOutput out;
  std::vector<Tensor> parts;
  try {
    data::Loader loader(d, lo);
    data::Batch b;
    while (loader.next(b)) {
      if (hooks.before_batch) hooks.before_batch(b.labels, b.indices);
      auto forward = [&](const Tensor& images) {
        return model(Variable(images)).data().to(Device::cpu()).to(DType::f32).contiguous();
      };
      Tensor images = b.images.to(device);
      Tensor logits = forward(images);
      if (hooks.after_batch) hooks.after_batch(logits);
      if (average_hflip) logits = log_mean_probabilities(logits, forward(mirrored(images)));
      parts.push_back(logits);
      const int64_t* l = b.labels.data<int64_t>();
      out.labels.insert(out.labels.end(), l, l + b.size());
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  ENGINE_CHECK(!parts.empty(), "evaluate_logits: the dataset '" << d.name << "' is empty");
  out.logits = ops::concat(parts, 0).contiguous();
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

EvalSummary summarize(const EvalOutput& e, int bins, double temperature) {
  std::vector<float> p = metrics::softmax_rows(e.logit_data(), e.size(), e.classes(), temperature);
  metrics::ClassificationStats s(bins);
  s.add(p.data(), e.labels.data(), e.size(), e.classes());
  EvalSummary r;
  r.images = e.size();
  r.accuracy = s.accuracy();
  r.nll = metrics::nll_at_temperature(e.logit_data(), e.labels.data(), e.size(), e.classes(), temperature);
  r.ece = s.ece();
  r.mce = s.mce();
  r.brier = metrics::brier_score(p.data(), e.labels.data(), e.size(), e.classes());
  r.bins = s.bins();
  return r;
}

EvalOutput select_rows(const EvalOutput& e, const std::vector<int64_t>& rows) {
  EvalOutput out;
  int64_t c = e.classes();
  out.logits = Tensor::empty({int64_t(rows.size()), c}, DType::f32);
  float* dst = out.logits.data<float>();
  const float* src = e.logit_data();
  for (size_t i = 0; i < rows.size(); ++i) {
    ENGINE_CHECK(rows[i] >= 0 && rows[i] < e.size(),
                 "select_rows: row " << rows[i] << " outside [0, " << e.size() << ")");
    std::memcpy(dst + int64_t(i) * c, src + rows[i] * c, size_t(c) * sizeof(float));
    out.labels.push_back(e.labels[size_t(rows[i])]);
  }
  out.seconds = 0;
  return out;
}

namespace {

// Per image: its label and the best seen and best held-out class with their logits.
struct ZeroShotRow {
  int64_t label = 0, best_seen = -1, best_heldout = -1;
  float seen_logit = 0, heldout_logit = 0;
};

std::vector<ZeroShotRow> zero_shot_rows(const EvalOutput& e, const std::vector<char>& is_heldout) {
  const int64_t c = e.classes();
  std::vector<ZeroShotRow> rows(size_t(e.size()));
  for (int64_t i = 0; i < e.size(); ++i) {
    const float* logits = e.logit_data() + i * c;
    ZeroShotRow& r = rows[size_t(i)];
    r.label = e.labels[size_t(i)];
    for (int64_t k = 0; k < c; ++k) {
      int64_t& best = is_heldout[size_t(k)] ? r.best_heldout : r.best_seen;
      if (best < 0 || logits[k] > logits[best]) best = k;
    }
    if (r.best_seen >= 0) r.seen_logit = logits[r.best_seen];
    if (r.best_heldout >= 0) r.heldout_logit = logits[r.best_heldout];
  }
  return rows;
}

// The class a row predicts over all classes once `shift` is taken off the seen logits.
int64_t shifted_prediction(const ZeroShotRow& r, double shift) {
  if (r.best_seen < 0) return r.best_heldout;
  if (r.best_heldout < 0) return r.best_seen;
  return double(r.seen_logit) - shift >= double(r.heldout_logit) ? r.best_seen : r.best_heldout;
}

// The shift that sends round(share x rows) rows to a held-out class: halfway between the
// margins (best seen - best held-out) ranked just below and just above that count.
double prior_matching_shift(const std::vector<ZeroShotRow>& rows, double share) {
  if (rows.empty()) return 0.0;
  std::vector<double> margin;
  margin.reserve(rows.size());
  for (const ZeroShotRow& r : rows) margin.push_back(double(r.seen_logit) - double(r.heldout_logit));
  std::sort(margin.begin(), margin.end());
  const size_t n = margin.size();
  const size_t m = size_t(std::llround(std::clamp(share, 0.0, 1.0) * double(n)));
  if (m == 0) return margin.front() - 1.0;  // nothing goes to a held-out class
  if (m >= n) return margin.back() + 1.0;   // everything does
  return 0.5 * (margin[m - 1] + margin[m]);
}

// Seen and held-out accuracy over all classes after the shift, and their harmonic mean.
void shifted_accuracies(const std::vector<ZeroShotRow>& rows, const std::vector<char>& is_heldout, double shift,
                        double* seen, double* heldout, double* harmonic) {
  int64_t seen_n = 0, seen_right = 0, heldout_n = 0, heldout_right = 0;
  for (const ZeroShotRow& r : rows) {
    const bool right = shifted_prediction(r, shift) == r.label;
    if (is_heldout[size_t(r.label)]) {
      ++heldout_n;
      heldout_right += right;
    } else {
      ++seen_n;
      seen_right += right;
    }
  }
  *seen = double(seen_right) / double(std::max<int64_t>(seen_n, 1));
  *heldout = double(heldout_right) / double(std::max<int64_t>(heldout_n, 1));
  *harmonic = *seen + *heldout > 0 ? 2 * *seen * *heldout / (*seen + *heldout) : 0.0;
}

std::vector<char> heldout_mask(int64_t classes, const std::vector<int64_t>& heldout) {
  std::vector<char> is_heldout(size_t(classes), 0);
  for (int64_t k : heldout) {
    ENGINE_CHECK(k >= 0 && k < classes, "zero_shot_summary: held-out class " << k << " outside [0, " << classes << ")");
    is_heldout[size_t(k)] = 1;
  }
  return is_heldout;
}

}  // namespace

ZeroShotCurve zero_shot_curve(const EvalOutput& e, const std::vector<int64_t>& heldout) {
  const std::vector<char> is_heldout = heldout_mask(e.classes(), heldout);
  const std::vector<ZeroShotRow> rows = zero_shot_rows(e, is_heldout);
  // Rows by margin: a shift just above a row's margin sends it to its best held-out class.
  std::vector<std::pair<double, size_t>> order;
  int64_t seen_n = 0, heldout_n = 0, seen_right = 0, heldout_right = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const ZeroShotRow& r = rows[i];
    order.push_back({double(r.seen_logit) - double(r.heldout_logit), i});
    const bool held = is_heldout[size_t(r.label)];
    (held ? heldout_n : seen_n) += 1;
    if (r.best_seen >= 0 && r.best_seen == r.label) ++seen_right;  // every row starts seen
  }
  std::sort(order.begin(), order.end());
  ZeroShotCurve c;
  auto push = [&](double shift) {
    c.points.push_back({shift, double(seen_right) / double(std::max<int64_t>(seen_n, 1)),
                        double(heldout_right) / double(std::max<int64_t>(heldout_n, 1))});
  };
  push(order.empty() ? 0.0 : order.front().first - 1.0);
  for (size_t j = 0; j < order.size(); ++j) {
    const ZeroShotRow& r = rows[order[j].second];
    if (r.best_seen >= 0 && r.best_seen == r.label) --seen_right;
    if (r.best_heldout >= 0 && r.best_heldout == r.label) ++heldout_right;
    // One point per distinct margin: rows that tie switch together.
    if (j + 1 == order.size() || order[j + 1].first > order[j].first)
      push(j + 1 == order.size() ? order[j].first + 1.0 : 0.5 * (order[j].first + order[j + 1].first));
  }
  for (size_t i = 1; i < c.points.size(); ++i) {
    const ZeroShotPoint &a = c.points[i - 1], &b = c.points[i];
    c.area += 0.5 * (a.seen_accuracy + b.seen_accuracy) * (b.heldout_accuracy - a.heldout_accuracy);
  }
  return c;
}

ZeroShotSummary zero_shot_summary(const EvalOutput& e, const std::vector<int64_t>& heldout) {
  const int64_t c = e.classes();
  const std::vector<char> is_heldout = heldout_mask(c, heldout);
  const std::vector<ZeroShotRow> rows = zero_shot_rows(e, is_heldout);
  ZeroShotSummary z;
  int64_t among_right = 0;
  for (const ZeroShotRow& r : rows) {
    if (is_heldout[size_t(r.label)]) {
      ++z.heldout_images;
      among_right += r.best_heldout == r.label;
    } else {
      ++z.seen_images;
    }
  }
  // Unshifted, a row predicts its best seen class unless a held-out class is strictly
  // higher: the plain argmax over all classes up to ties.
  shifted_accuracies(rows, is_heldout, 0.0, &z.seen_accuracy, &z.heldout_accuracy, &z.harmonic_mean);
  z.heldout_accuracy_among_heldout = double(among_right) / double(std::max<int64_t>(z.heldout_images, 1));
  z.chance_all = 1.0 / double(std::max<int64_t>(c, 1));
  z.chance_among_heldout = 1.0 / double(std::max<size_t>(heldout.size(), 1));
  z.heldout_prediction_share = double(heldout.size()) / double(std::max<int64_t>(c, 1));
  z.calibration_shift = prior_matching_shift(rows, z.heldout_prediction_share);
  shifted_accuracies(rows, is_heldout, z.calibration_shift, &z.calibrated_seen_accuracy, &z.calibrated_heldout_accuracy,
                     &z.calibrated_harmonic_mean);
  return z;
}

std::string describe(const ZeroShotSummary& z) {
  std::ostringstream o;
  o << "zero-shot: seen classes " << fixed_point(z.seen_accuracy) << " (" << z.seen_images
    << " images), held-out classes " << fixed_point(z.heldout_accuracy) << " (" << z.heldout_images
    << " images; chance " << fixed_point(z.chance_all) << "), harmonic mean " << fixed_point(z.harmonic_mean)
    << "; held-out among held-out only " << fixed_point(z.heldout_accuracy_among_heldout) << " (chance "
    << fixed_point(z.chance_among_heldout) << "); calibrated (seen logits - " << fixed_point(z.calibration_shift)
    << ", chosen without labels to predict held-out classes for " << fixed_point(100 * z.heldout_prediction_share, 1)
    << "% of the images): seen " << fixed_point(z.calibrated_seen_accuracy) << ", held-out "
    << fixed_point(z.calibrated_heldout_accuracy) << ", harmonic mean " << fixed_point(z.calibrated_harmonic_mean);
  return o.str();
}

std::string fixed_point(double v, int digits) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

}  // namespace engine::app
