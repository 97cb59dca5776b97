#include "apps/common/evaluation.h"

#include <chrono>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "data/loader.h"
#include "data/registry.h"
#include "engine/autograd/variable.h"

namespace engine::app {

EvalOutput evaluate_logits(nn::Module& model, const data::Dataset& d, const TrainConfig& c, Device device,
                           const EvalHooks& hooks) {
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
      Tensor logits = model(Variable(b.images.to(device))).data().to(Device::cpu()).to(DType::f32).contiguous();
      if (hooks.after_batch) hooks.after_batch(logits);
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

ZeroShotSummary zero_shot_summary(const EvalOutput& e, const std::vector<int64_t>& heldout) {
  const int64_t c = e.classes();
  std::vector<char> is_heldout(size_t(c), 0);
  for (int64_t k : heldout) {
    ENGINE_CHECK(k >= 0 && k < c, "zero_shot_summary: held-out class " << k << " outside [0, " << c << ")");
    is_heldout[size_t(k)] = 1;
  }
  ZeroShotSummary z;
  int64_t seen_right = 0, heldout_right = 0, among_right = 0;
  for (int64_t i = 0; i < e.size(); ++i) {
    const float* row = e.logit_data() + i * c;
    int64_t best = 0, best_heldout = -1;
    for (int64_t k = 0; k < c; ++k) {
      if (row[k] > row[best]) best = k;
      if (is_heldout[size_t(k)] && (best_heldout < 0 || row[k] > row[best_heldout])) best_heldout = k;
    }
    const int64_t label = e.labels[size_t(i)];
    if (is_heldout[size_t(label)]) {
      ++z.heldout_images;
      heldout_right += best == label;
      among_right += best_heldout == label;
    } else {
      ++z.seen_images;
      seen_right += best == label;
    }
  }
  z.seen_accuracy = double(seen_right) / double(std::max<int64_t>(z.seen_images, 1));
  z.heldout_accuracy = double(heldout_right) / double(std::max<int64_t>(z.heldout_images, 1));
  z.heldout_accuracy_among_heldout = double(among_right) / double(std::max<int64_t>(z.heldout_images, 1));
  const double sum = z.seen_accuracy + z.heldout_accuracy;
  z.harmonic_mean = sum > 0 ? 2 * z.seen_accuracy * z.heldout_accuracy / sum : 0.0;
  z.chance_all = 1.0 / double(std::max<int64_t>(c, 1));
  z.chance_among_heldout = 1.0 / double(std::max<size_t>(heldout.size(), 1));
  return z;
}

std::string describe(const ZeroShotSummary& z) {
  std::ostringstream o;
  o << "zero-shot: seen classes " << fixed_point(z.seen_accuracy) << " (" << z.seen_images
    << " images), held-out classes " << fixed_point(z.heldout_accuracy) << " (" << z.heldout_images
    << " images; chance " << fixed_point(z.chance_all) << "), harmonic mean " << fixed_point(z.harmonic_mean)
    << "; held-out among held-out only " << fixed_point(z.heldout_accuracy_among_heldout) << " (chance "
    << fixed_point(z.chance_among_heldout) << ")";
  return o.str();
}

std::string fixed_point(double v, int digits) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

}  // namespace engine::app
