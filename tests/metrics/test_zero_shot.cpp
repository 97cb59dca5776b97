// Generalised zero-shot figures (apps/common/evaluation.h) on hand-made logits.
#include "apps/common/evaluation.h"
#include "test_util.h"

using namespace engine;

TEST_CASE("zero_shot_summary splits accuracy by seen and held-out classes", "[metrics]") {
  // 4 classes, 2 and 3 held out. Rows: label, then logits.
  const std::vector<std::pair<int64_t, std::vector<float>>> rows = {
      {0, {5, 1, 0, 0}},  // seen, right
      {1, {5, 1, 0, 0}},  // seen, wrong
      {2, {0, 0, 3, 1}},  // held out, right
      {3, {4, 0, 1, 2}},  // held out, wrong over all classes, right among held-out ones
      {3, {4, 0, 3, 2}},  // held out, wrong either way
  };
  app::EvalOutput e;
  e.logits = Tensor::empty({int64_t(rows.size()), 4}, DType::f32);
  for (size_t i = 0; i < rows.size(); ++i) {
    e.labels.push_back(rows[i].first);
    for (int64_t k = 0; k < 4; ++k) e.logits.data<float>()[i * 4 + size_t(k)] = rows[i].second[size_t(k)];
  }
  const app::ZeroShotSummary z = app::zero_shot_summary(e, {2, 3});
  CHECK(z.seen_images == 2);
  CHECK(z.heldout_images == 3);
  CHECK(z.seen_accuracy == Approx(0.5));
  CHECK(z.heldout_accuracy == Approx(1.0 / 3));
  CHECK(z.heldout_accuracy_among_heldout == Approx(2.0 / 3));
  CHECK(z.harmonic_mean == Approx(2 * 0.5 * (1.0 / 3) / (0.5 + 1.0 / 3)));
  CHECK(z.chance_all == Approx(0.25));
  CHECK(z.chance_among_heldout == Approx(0.5));
  CHECK_THAT(app::describe(z), Catch::Contains("held-out classes 0.3333 (3 images; chance 0.2500)"));
  // Calibrated stacking: margins (best seen - best held-out) are 5, 5, -3, 2, 1; the
  // held-out share of the classes is 1/2, so round(2.5) = 3 rows must go to held-out
  // classes: the shift is halfway between the 3rd and 4th margins, (2 + 5) / 2.
  CHECK(z.heldout_prediction_share == Approx(0.5));
  CHECK(z.calibration_shift == Approx(3.5));
  CHECK(z.calibrated_seen_accuracy == Approx(0.5));         // rows 0 and 1 keep class 0
  CHECK(z.calibrated_heldout_accuracy == Approx(2.0 / 3));  // rows 2, 3 right; row 4 picks 2
  CHECK(z.calibrated_harmonic_mean == Approx(2 * 0.5 * (2.0 / 3) / (0.5 + 2.0 / 3)));
  CHECK_THAT(app::describe(z), Catch::Contains("calibrated (seen logits - 3.5000"));
  // The trade-off curve: margins -3, 1, 2, 5, 5 switch rows 2, 4, 3 and then 0 and 1
  // together; (held-out, seen) accuracy goes (0, 1/2), (1/3, 1/2), (1/3, 1/2), (2/3, 1/2),
  // (2/3, 0), so the area under it is 1/3.
  const app::ZeroShotCurve curve = app::zero_shot_curve(e, {2, 3});
  REQUIRE(curve.points.size() == 5);
  CHECK(curve.points[0].seen_accuracy == Approx(0.5));
  CHECK(curve.points[0].heldout_accuracy == Approx(0.0));
  CHECK(curve.points[3].shift == Approx(3.5));
  CHECK(curve.points[3].heldout_accuracy == Approx(z.calibrated_heldout_accuracy));
  CHECK(curve.points[4].seen_accuracy == Approx(0.0));
  CHECK(curve.area == Approx(1.0 / 3));
  CHECK_THROWS_WITH(app::zero_shot_summary(e, {4}), Catch::Contains("held-out class 4 outside [0, 4)"));
}

TEST_CASE("zero_shot_summary's calibration predicts the held-out share of the classes", "[metrics]") {
  // 10 images of 5 classes (2 held out: share 0.4): seen logits lead by margins 0..9, so
  // the shift must send exactly the 4 smallest margins to a held-out class, whatever the
  // labels say (the labels are not used to choose it).
  app::EvalOutput e;
  e.logits = Tensor::empty({10, 5}, DType::f32);
  float* l = e.logits.data<float>();
  for (int64_t i = 0; i < 10; ++i) {
    for (int64_t k = 0; k < 5; ++k) l[i * 5 + k] = 0.0f;
    l[i * 5 + 0] = float(i);  // best seen class 0, margin i over held-out class 3
    e.labels.push_back(i < 6 ? 3 : 0);
  }
  const app::ZeroShotSummary z = app::zero_shot_summary(e, {3, 4});
  CHECK(z.calibration_shift == Approx(3.5));
  CHECK(z.heldout_accuracy == Approx(0.0));                 // margins >= 0: ties go to seen
  CHECK(z.calibrated_heldout_accuracy == Approx(4.0 / 6));  // images 0..3
  CHECK(z.calibrated_seen_accuracy == Approx(1.0));
}
