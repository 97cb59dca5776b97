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

std::string fixed_point(double v, int digits) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

}  // namespace engine::app
