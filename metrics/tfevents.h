#pragma once
// TensorBoard logs in the tfevents record format, encoded here: each record is
// [u64 length][u32 masked CRC-32C of the length][Event protobuf][u32 masked CRC-32C
// of the data]; Event{1 wall_time, 2 step, 3 file_version | 5 summary{1 value{1 tag,
// 2 simple_value | 4 image | 5 histo}}}, with Summary.Image{1 height, 2 width,
// 3 colorspace, 4 encoded_image_string} and HistogramProto{1 min, 2 max, 3 num,
// 4 sum, 5 sum_squares, 6 bucket_limit, 7 bucket} (both repeated doubles packed), the
// field numbers of TensorFlow's summary.proto and event.proto. `tensorboard --logdir
// runs` reads the files; scripts/check_tensorboard.py loads them with TensorBoard's
// own reader (README.md, "TensorBoard").
//
// Tags in a run's event files, one file per epoch with step = epoch:
//   train/loss, train/acc                 scalars, the epoch's training means
//   test/loss, test/acc, test/nll, test/ece
//   val/acc, val/nll                      with data.val_size only
//   lr, perf/img_per_s
//   moe/<layer>/utilisation, moe/<layer>/lb_loss, ... (scalars: one per MoE metric)
//   moe/<layer>/expert_load               histogram: Histogram::per_index(tokens per
//                                         expert), expert e the bucket [e, e + 1)
//   moe/<layer>/expert_class              image: the expert x class heatmap
//   eval/reliability                      image: the reliability diagram of the test set
// <layer> is the MoE layer's placement name (layer3; moe_layers.csv names the module,
// moe_layer3.moe); the metrics over all MoE layers together (metrics.csv's moe_* columns)
// go under moe/all/<metric>. The trainer writes all of these
// (apps/common/trainer.cpp, add_epoch_images).
// Tags are grouped in TensorBoard by the part before the first '/'.
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace engine::plot {
class Canvas;
}

namespace engine::metrics {

uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
uint32_t masked_crc32c(const void* data, size_t n);

// A HistogramProto. Bucket i counts values in [bucket_limit[i - 1], bucket_limit[i]),
// bucket 0 from `min`; TensorBoard draws the first bucket from min and the last up to
// max, and leaves out empty buckets at either end.
struct Histogram {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> bucket_limit, bucket;

  // `bins` equal-width buckets over the values' range; a value at the top edge counts
  // in the last bucket, and equal values make one bucket. Values must be finite.
  static Histogram of_values(const std::vector<double>& values, int bins = 30);
  // counts.size() buckets between increasing edges (counts.size() + 1 of them); sum
  // and sum_squares take each bucket's count at its midpoint.
  static Histogram of_buckets(const std::vector<double>& edges, const std::vector<double>& counts);
  // One bucket per index: counts[i] in [i, i + 1) (tokens per expert, a bar chart).
  static Histogram per_index(const std::vector<double>& counts);
};

// Summary.Image.colorspace: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
constexpr int kColorspaceRgb = 3;

// A whole event file as bytes, built value by value: the version record, then one
// record per value, all at one step and one wall time. A run writes one such file per
// epoch, atomically (apps/common/run_directory.h), so that a file is either complete
// or absent.
class EventFileBuilder {
 public:
  explicit EventFileBuilder(int64_t step);  // wall time: now
  EventFileBuilder(int64_t step, double wall_time);

  EventFileBuilder& add_scalar(const std::string& tag, double value);
  EventFileBuilder& add_histogram(const std::string& tag, const Histogram& h);
  EventFileBuilder& add_histogram(const std::string& tag, const std::vector<double>& values, int bins = 30);
  // `png`: the encoded image; height and width in pixels, as in the PNG header.
  EventFileBuilder& add_image(const std::string& tag, const std::string& png, int height, int width,
                              int colorspace = kColorspaceRgb);
  // The canvas encoded as an RGB PNG (a chart of metrics/plot/charts.h: Figure::canvas).
  EventFileBuilder& add_image(const std::string& tag, const plot::Canvas& canvas);

  int64_t step() const { return step_; }
  int values() const { return values_; }
  const std::string& bytes() const { return bytes_; }

 private:
  int64_t step_;
  double wall_time_;
  int values_ = 0;
  std::string bytes_;
};

// The scalars-only file: EventFileBuilder(step) with add_scalar for each (tag, value).
std::string scalar_event_file(int64_t step, const std::vector<std::pair<std::string, double>>& scalars);

class EventWriter {
 public:
  // Creates <dir>/events.out.tfevents.<seconds>.<host> and writes the version record.
  explicit EventWriter(const std::string& dir);
  void add_scalar(const std::string& tag, double value, int64_t step);
  void flush() { out_.flush(); }
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& event);
  std::string path_;
  std::ofstream out_;
};

// An event framed as a record: length, its masked CRC, the event, the event's masked CRC.
std::string frame_record(const std::string& event);

// Protobuf pieces, exposed for the tests' reader. Each event carries one Summary.Value.
std::string encode_version_event(double wall_time);
std::string encode_scalar_event(double wall_time, int64_t step, const std::string& tag, float value);
std::string encode_histogram_event(double wall_time, int64_t step, const std::string& tag, const Histogram& h);
std::string encode_image_event(double wall_time, int64_t step, const std::string& tag, const std::string& png,
                               int height, int width, int colorspace = kColorspaceRgb);

}  // namespace engine::metrics
