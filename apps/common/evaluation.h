#pragma once
// Evaluation that keeps the logits, for calibration (temperature scaling), the Brier
// score, corruption robustness and the plots of eval_app.
#include <functional>
#include <string>
#include <vector>

#include "apps/common/train_config.h"
#include "data/dataset.h"
#include "engine/nn/module.h"
#include "metrics/calibration.h"

namespace engine::app {

struct EvalOutput {
  Tensor logits;                // f32 [N, C] on the CPU, in dataset order
  std::vector<int64_t> labels;  // [N]
  double seconds = 0;           // wall time of the pass (loading, forward, copies)

  int64_t size() const { return int64_t(labels.size()); }
  int64_t classes() const { return logits.defined() ? logits.size(1) : 0; }
  const float* logit_data() const { return logits.data<float>(); }
};

// Called around every batch (eval mode, no graph): before the forward pass with the
// batch's labels and dataset indices (CPU i64), after it with the logits. Models
// with per-sample side information (the experts an MoE layer chose) collect it here.
struct EvalHooks {
  std::function<void(const Tensor& labels, const Tensor& indices)> before_batch;
  std::function<void(const Tensor& logits)> after_batch;
};

// Runs the model in eval mode over the dataset with the config's normalisation and
// eval batch size; the model is left in the mode it was in. average_hflip: test-time
// augmentation, each image's logits are the log of the mean of its and its mirror
// image's class probabilities (the hooks see the plain pass).
EvalOutput evaluate_logits(nn::Module& model, const data::Dataset& d, const TrainConfig& config, Device device,
                           const EvalHooks& hooks = {}, bool average_hflip = false);

// The metrics of one evaluation at a temperature (1 = as trained).
struct EvalSummary {
  int64_t images = 0;
  double accuracy = 0, nll = 0, ece = 0, mce = 0, brier = 0;
  metrics::ReliabilityBins bins;
};
EvalSummary summarize(const EvalOutput& e, int bins, double temperature = 1.0);

// The given rows of an evaluation, in that order (to split one set into a part to fit
// the temperature on and a part to report on).
EvalOutput select_rows(const EvalOutput& e, const std::vector<int64_t>& rows);

// Generalised zero-shot figures of a model trained without the `heldout` classes (data.
// holdout_classes): top-1 accuracy over all classes on the images of seen classes and on
// those of held-out classes, their harmonic mean, and the held-out images' accuracy when
// only the held-out classes are scored (classic zero-shot), each beside its chance level.
//
// A model trained on the seen classes only scores them higher than any class it never
// saw, so the same figures are also given after calibrated stacking (Chao et al., 2016):
// a shift `calibration_shift` is subtracted from every seen class's logit. The shift is
// chosen without labels, from the evaluated images' logits and the class prior alone: it
// is the one that predicts a held-out class for the held-out classes' share of the
// images (|held-out| / classes, the share on a balanced test set). Ties go to the seen
// class.
struct ZeroShotSummary {
  int64_t seen_images = 0, heldout_images = 0;
  double seen_accuracy = 0, heldout_accuracy = 0, harmonic_mean = 0, heldout_accuracy_among_heldout = 0;
  double chance_all = 0, chance_among_heldout = 0;
  double calibration_shift = 0, heldout_prediction_share = 0;
  double calibrated_seen_accuracy = 0, calibrated_heldout_accuracy = 0, calibrated_harmonic_mean = 0;
};
ZeroShotSummary zero_shot_summary(const EvalOutput& e, const std::vector<int64_t>& heldout);
std::string describe(const ZeroShotSummary& z);  // one line for logs and eval_app

// The whole trade-off behind calibrated stacking: seen and held-out accuracy over all
// classes at every shift where a prediction changes (ascending shifts, from everything
// predicted seen to everything predicted held out), and the area under the seen-unseen
// accuracy curve (AUSUC, trapezoids over held-out accuracy; 1 = perfect).
struct ZeroShotPoint {
  double shift = 0, seen_accuracy = 0, heldout_accuracy = 0;
};
struct ZeroShotCurve {
  std::vector<ZeroShotPoint> points;
  double area = 0;
};
ZeroShotCurve zero_shot_curve(const EvalOutput& e, const std::vector<int64_t>& heldout);

// A metric as the evaluation tables and messages print it: fixed, `digits` decimals.
std::string fixed_point(double v, int digits = 4);

}  // namespace engine::app
