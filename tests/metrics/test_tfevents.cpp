// The TensorBoard event files parse back: a reader written here checks every CRC,
// decodes the protobuf (Event, Summary.Value, Summary.Image, HistogramProto) and
// compares tags, steps and values. The last case writes build/tensorboard_sample/, the
// folder scripts/check_tensorboard.py loads with TensorBoard's own reader.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "metrics/classification.h"
#include "metrics/plot/charts.h"
#include "metrics/tfevents.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

uint64_t varint(const std::string& s, size_t& i) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    REQUIRE(i < s.size());
    REQUIRE(shift < 64);
    uint8_t b = uint8_t(s[i++]);
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
}

// One protobuf field as it lies in the message.
struct Field {
  int number = 0, wire = 0;
  uint64_t varint = 0;
  uint64_t fixed = 0;  // wire 1 (64 bits) and 5 (32 bits)
  std::string bytes;   // wire 2
  double as_double() const {
    double d;
    std::memcpy(&d, &fixed, 8);
    return d;
  }
  float as_float() const {
    uint32_t u = uint32_t(fixed);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

std::vector<Field> parse_message(const std::string& s) {
  std::vector<Field> out;
  size_t i = 0;
  while (i < s.size()) {
    Field f;
    uint64_t key = varint(s, i);
    f.number = int(key >> 3);
    f.wire = int(key & 7);
    if (f.wire == 0) {
      f.varint = varint(s, i);
    } else if (f.wire == 1 || f.wire == 5) {
      size_t n = f.wire == 1 ? 8 : 4;
      REQUIRE(i + n <= s.size());
      std::memcpy(&f.fixed, s.data() + i, n);
      i += n;
    } else if (f.wire == 2) {
      size_t n = size_t(varint(s, i));
      REQUIRE(i + n <= s.size());
      f.bytes = s.substr(i, n);
      i += n;
    } else {
      FAIL("unexpected wire type " << f.wire);
    }
    out.push_back(f);
  }
  return out;
}

std::vector<double> packed_doubles(const Field& f) {
  REQUIRE(f.wire == 2);
  REQUIRE(f.bytes.size() % 8 == 0);
  std::vector<double> v(f.bytes.size() / 8);
  std::memcpy(v.data(), f.bytes.data(), f.bytes.size());
  return v;
}

struct Image {
  int64_t height = 0, width = 0, colorspace = 0;
  std::string png;
};

enum class Kind { none, scalar, image, histogram };

struct Value {
  std::string tag;
  Kind kind = Kind::none;
  float simple_value = 0;
  Image image;
  metrics::Histogram histo;
};

struct Event {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::vector<Value> values;
};

Image decode_image(const std::string& s) {
  Image im;
  for (const Field& f : parse_message(s)) {
    if (f.number == 4) {
      REQUIRE(f.wire == 2);
      im.png = f.bytes;
      continue;
    }
    REQUIRE(f.wire == 0);
    REQUIRE(f.number >= 1);
    REQUIRE(f.number <= 3);
    (f.number == 1 ? im.height : f.number == 2 ? im.width : im.colorspace) = int64_t(f.varint);
  }
  return im;
}

metrics::Histogram decode_histogram(const std::string& s) {
  metrics::Histogram h;
  for (const Field& f : parse_message(s)) {
    if (f.number >= 1 && f.number <= 5) {
      REQUIRE(f.wire == 1);
      double* dst[] = {&h.min, &h.max, &h.num, &h.sum, &h.sum_squares};
      *dst[f.number - 1] = f.as_double();
    } else if (f.number == 6 || f.number == 7) {
      std::vector<double> v = packed_doubles(f);
      auto& dst = f.number == 6 ? h.bucket_limit : h.bucket;
      dst.insert(dst.end(), v.begin(), v.end());
    } else {
      FAIL("unexpected HistogramProto field " << f.number);
    }
  }
  return h;
}

Value decode_value(const std::string& s) {
  Value v;
  for (const Field& f : parse_message(s)) {
    if (f.number == 1) {
      REQUIRE(f.wire == 2);
      v.tag = f.bytes;
    } else if (f.number == 2) {
      REQUIRE(f.wire == 5);
      v.kind = Kind::scalar;
      v.simple_value = f.as_float();
    } else if (f.number == 4) {
      REQUIRE(f.wire == 2);
      v.kind = Kind::image;
      v.image = decode_image(f.bytes);
    } else if (f.number == 5) {
      REQUIRE(f.wire == 2);
      v.kind = Kind::histogram;
      v.histo = decode_histogram(f.bytes);
    } else {
      FAIL("unexpected Summary.Value field " << f.number);
    }
  }
  return v;
}

Event decode_event(const std::string& s) {
  Event e;
  for (const Field& f : parse_message(s)) {
    if (f.number == 1) {
      REQUIRE(f.wire == 1);
      e.wall_time = f.as_double();
    } else if (f.number == 2) {
      REQUIRE(f.wire == 0);
      e.step = int64_t(f.varint);
    } else if (f.number == 3) {
      REQUIRE(f.wire == 2);
      e.file_version = f.bytes;
    } else if (f.number == 5) {
      REQUIRE(f.wire == 2);
      for (const Field& sv : parse_message(f.bytes)) {
        REQUIRE(sv.number == 1);
        REQUIRE(sv.wire == 2);
        e.values.push_back(decode_value(sv.bytes));
      }
    } else {
      FAIL("unexpected Event field " << f.number);
    }
  }
  return e;
}

// Every record of an event file, each CRC checked; the file must end after a whole record.
std::vector<Event> read_events(const std::string& data) {
  std::vector<Event> events;
  size_t i = 0;
  while (i < data.size()) {
    REQUIRE(i + 12 <= data.size());
    uint64_t len;
    uint32_t len_crc, data_crc;
    std::memcpy(&len, data.data() + i, 8);
    std::memcpy(&len_crc, data.data() + i + 8, 4);
    CHECK(len_crc == metrics::masked_crc32c(data.data() + i, 8));
    REQUIRE(i + 12 + len + 4 <= data.size());
    std::string event = data.substr(i + 12, size_t(len));
    std::memcpy(&data_crc, data.data() + i + 12 + len, 4);
    CHECK(data_crc == metrics::masked_crc32c(event.data(), event.size()));
    events.push_back(decode_event(event));
    i += 12 + size_t(len) + 4;
  }
  return events;
}

// The image's size from its PNG header (IHDR: big-endian width, then height).
std::pair<int, int> png_height_width(const std::string& png) {
  REQUIRE(png.size() >= 24);
  REQUIRE(png.compare(0, 8, "\x89PNG\r\n\x1a\n", 8) == 0);
  REQUIRE(png.compare(12, 4, "IHDR") == 0);
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) v = v << 8 | uint8_t(png[at + k]);
    return int(v);
  };
  return {be32(20), be32(16)};
}

}  // namespace

TEST_CASE("CRC-32C matches the standard check value", "[metrics]") {
  CHECK(metrics::crc32c("123456789", 9) == 0xE3069283u);
}

TEST_CASE("tfevents records parse back with valid CRCs", "[metrics]") {
  std::string dir = std::string(ENGINE_BINARY_DIR) + "/tfevents_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string path;
  {
    metrics::EventWriter w(dir);
    w.add_scalar("train/loss", 2.25, 1);
    w.add_scalar("test/acc", 0.875, 1);
    w.add_scalar("train/loss", 1.5, 2);
    path = w.path();
  }
  std::vector<Event> events = read_events(testing::read_text(path));
  REQUIRE(events.size() == 4);
  CHECK(events[0].file_version == "brain.Event:2");
  CHECK(events[0].values.empty());
  for (size_t i = 1; i < 4; ++i) {
    REQUIRE(events[i].values.size() == 1);
    CHECK(events[i].values[0].kind == Kind::scalar);
  }
  CHECK(events[1].values[0].tag == "train/loss");
  CHECK(events[1].step == 1);
  CHECK(events[1].values[0].simple_value == 2.25f);
  CHECK(events[2].values[0].tag == "test/acc");
  CHECK(events[2].values[0].simple_value == 0.875f);
  CHECK(events[3].step == 2);
  CHECK(events[3].values[0].simple_value == 1.5f);
}

TEST_CASE("EventFileBuilder: scalars, a histogram and an image at one step, fields decoded", "[metrics]") {
  plot::Canvas canvas(7, 5, plot::colors::blue);
  metrics::Histogram load = metrics::Histogram::per_index({10, 0, 30, 60});
  metrics::EventFileBuilder b(3, 1700000000.25);
  b.add_scalar("train/loss", 0.5)
      .add_histogram("moe/layer3/expert_load", load)
      .add_image("eval/reliability", canvas)
      .add_scalar("test/acc", 0.75);
  CHECK(b.step() == 3);
  CHECK(b.values() == 4);
  std::vector<Event> events = read_events(b.bytes());
  REQUIRE(events.size() == 5);
  CHECK(events[0].file_version == "brain.Event:2");
  for (const Event& e : events) CHECK(e.wall_time == 1700000000.25);
  for (size_t i = 1; i < events.size(); ++i) {
    CHECK(events[i].step == 3);
    REQUIRE(events[i].values.size() == 1);
  }
  const Value& loss = events[1].values[0];
  CHECK(loss.tag == "train/loss");
  CHECK(loss.kind == Kind::scalar);
  CHECK(loss.simple_value == 0.5f);

  const Value& h = events[2].values[0];
  CHECK(h.tag == "moe/layer3/expert_load");
  REQUIRE(h.kind == Kind::histogram);
  CHECK(h.histo.min == 0);
  CHECK(h.histo.max == 4);
  CHECK(h.histo.num == 100);
  CHECK(h.histo.sum == Approx(10 * 0.5 + 30 * 2.5 + 60 * 3.5));
  CHECK(h.histo.sum_squares == Approx(10 * 0.25 + 30 * 6.25 + 60 * 12.25));
  CHECK(h.histo.bucket_limit == std::vector<double>{1, 2, 3, 4});
  CHECK(h.histo.bucket == std::vector<double>{10, 0, 30, 60});

  const Value& im = events[3].values[0];
  CHECK(im.tag == "eval/reliability");
  REQUIRE(im.kind == Kind::image);
  CHECK(im.image.height == 5);
  CHECK(im.image.width == 7);
  CHECK(im.image.colorspace == metrics::kColorspaceRgb);
  CHECK(im.image.png == canvas.encode_png());
  CHECK(png_height_width(im.image.png) == std::make_pair(5, 7));

  CHECK(events[4].values[0].tag == "test/acc");
  CHECK(events[4].values[0].simple_value == 0.75f);
}

TEST_CASE("scalar_event_file is the builder with scalars only", "[metrics]") {
  std::vector<Event> events = read_events(metrics::scalar_event_file(7, {{"lr", 0.1}, {"train/acc", 0.25}}));
  REQUIRE(events.size() == 3);
  CHECK(events[0].file_version == "brain.Event:2");
  CHECK(events[1].step == 7);
  CHECK(events[1].values[0].tag == "lr");
  CHECK(events[1].values[0].simple_value == 0.1f);
  CHECK(events[2].values[0].tag == "train/acc");
  CHECK(events[2].values[0].simple_value == 0.25f);
  CHECK(read_events(metrics::scalar_event_file(1, {})).size() == 1);
}

TEST_CASE("Histogram::of_values: equal-width buckets over the range, moments exact", "[metrics]") {
  metrics::Histogram h = metrics::Histogram::of_values({0, 1, 1, 2, 3.5, 4}, 4);
  CHECK(h.min == 0);
  CHECK(h.max == 4);
  CHECK(h.num == 6);
  CHECK(h.sum == 11.5);
  CHECK(h.sum_squares == 0 + 1 + 1 + 4 + 12.25 + 16);
  CHECK(h.bucket_limit == std::vector<double>{1, 2, 3, 4});
  // [0,1): 0; [1,2): 1, 1; [2,3): 2; [3,4]: 3.5 and the top edge 4.
  CHECK(h.bucket == std::vector<double>{1, 2, 1, 2});

  metrics::Histogram same = metrics::Histogram::of_values({2.5, 2.5, 2.5});
  CHECK(same.bucket_limit == std::vector<double>{2.5});
  CHECK(same.bucket == std::vector<double>{3});
  CHECK(metrics::Histogram::of_values({}).num == 0);
  CHECK(metrics::Histogram::of_values({}).bucket.empty());

  // Through the builder: the default 30 buckets hold every value.
  std::vector<double> many;
  for (int i = 0; i < 1000; ++i) many.push_back(std::sin(i * 0.37));
  metrics::EventFileBuilder b(1, 0.0);
  b.add_histogram("values", many);
  std::vector<Event> events = read_events(b.bytes());
  const metrics::Histogram& d = events.at(1).values.at(0).histo;
  REQUIRE(d.bucket.size() == 30);
  REQUIRE(d.bucket_limit.size() == 30);
  double total = 0;
  for (double c : d.bucket) total += c;
  CHECK(total == 1000);
  CHECK(d.bucket_limit.back() == d.max);
  for (size_t i = 1; i < d.bucket_limit.size(); ++i) CHECK(d.bucket_limit[i - 1] < d.bucket_limit[i]);
}

TEST_CASE("tfevents: bad summaries are refused with the tag named", "[metrics]") {
  metrics::EventFileBuilder b(1, 0.0);
  CHECK_THROWS_WITH(b.add_scalar("", 1.0), Catch::Contains("needs a tag"));
  CHECK_THROWS_WITH(b.add_image("eval/reliability", "GIF89a....", 2, 2), Catch::Contains("not PNG data"));
  plot::Canvas c(2, 2);
  CHECK_THROWS_WITH(b.add_image("x", c.encode_png(), 0, 2), Catch::Contains("size 0x2"));
  CHECK_THROWS_WITH(b.add_image("x", c.encode_png(), 2, 2, 5), Catch::Contains("colorspace 5"));
  CHECK_THROWS_WITH(b.add_histogram("h", std::vector<double>{1.0, NAN}), Catch::Contains("non-finite"));
  CHECK_THROWS_WITH(metrics::Histogram::of_buckets({0, 1}, {1, 2}), Catch::Contains("2 edges for 2 buckets"));
  CHECK_THROWS_WITH(metrics::Histogram::of_buckets({0, 1, 1}, {1, 2}), Catch::Contains("edges must increase"));
  metrics::Histogram bad;
  bad.bucket_limit = {1, 2};
  bad.bucket = {1};
  CHECK_THROWS_WITH(b.add_histogram("moe/layer3/expert_load", bad), Catch::Contains("moe/layer3/expert_load"));
  CHECK(b.values() == 0);
  CHECK(read_events(b.bytes()).size() == 1);
}

// Two epochs of what a run directory can hold: scalars, the expert load histogram, the
// reliability diagram and the expert x class heatmap. scripts/check_tensorboard.py
// build/tensorboard_sample loads it with TensorBoard's reader (README.md, "TensorBoard").
TEST_CASE("tfevents sample folder: every kind of summary, two epochs", "[metrics]") {
  std::string dir = std::string(ENGINE_BINARY_DIR) + "/tensorboard_sample";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (int64_t epoch = 1; epoch <= 2; ++epoch) {
    double e = double(epoch);
    metrics::EventFileBuilder b(epoch);
    b.add_scalar("train/loss", 1.0 / e).add_scalar("train/acc", 0.6 + 0.1 * e).add_scalar("test/acc", 0.55 + 0.1 * e);
    b.add_scalar("test/nll", 0.9 / e).add_scalar("test/ece", 0.05 / e).add_scalar("lr", 0.1 / e);
    b.add_scalar("perf/img_per_s", 400 + e).add_scalar("moe/layer3/utilisation", 0.7 + 0.1 * e);
    b.add_histogram("moe/layer3/expert_load", metrics::Histogram::per_index({120 + 20 * e, 100, 80 - 10 * e, 60}));
    std::vector<int64_t> count{0, 3, 10, 40, 47};
    std::vector<double> conf{0, 1.0, 5.0, 28.0, 42.0}, correct{0, 1, 4, 27, 44};
    b.add_image("eval/reliability", plot::reliability_diagram(count, conf, correct, "test set").canvas);
    plot::Heatmap hm;
    hm.title = "layer3: tokens per expert and class";
    hm.xlabel = "class";
    hm.ylabel = "expert";
    hm.values = {{30, 2, 1}, {3, 25, 4}, {1, 2, 40 + e}, {9, 9, 9}};
    hm.row_labels = {"0", "1", "2", "3"};
    hm.col_labels = {"t-shirt", "trouser", "pullover"};
    b.add_image("moe/layer3/expert_class", plot::heatmap(hm).canvas);
    char name[64];
    std::snprintf(name, sizeof name, "/events.out.tfevents.epoch-%06lld", static_cast<long long>(epoch));
    std::ofstream(dir + name, std::ios::binary) << b.bytes();

    std::vector<Event> events = read_events(testing::read_text(dir + name));
    REQUIRE(events.size() == 1 + 11);
    int scalars = 0, histograms = 0, images = 0;
    for (size_t i = 1; i < events.size(); ++i) {
      CHECK(events[i].step == epoch);
      const Value& v = events[i].values.at(0);
      scalars += v.kind == Kind::scalar;
      histograms += v.kind == Kind::histogram;
      if (v.kind == Kind::image) {
        ++images;
        CHECK(png_height_width(v.image.png) == std::make_pair(int(v.image.height), int(v.image.width)));
      }
    }
    CHECK(scalars == 8);
    CHECK(histograms == 1);
    CHECK(images == 2);
  }
}

TEST_CASE("ECE: zero for calibrated predictions, large for over-confident ones, hand value", "[metrics]") {
  // Two classes; confidence 0.8 on the predicted class, right 8 times out of 10: calibrated.
  std::vector<float> p;
  std::vector<int64_t> y;
  for (int i = 0; i < 10; ++i) {
    p.insert(p.end(), {0.8f, 0.2f});
    y.push_back(i < 8 ? 0 : 1);
  }
  metrics::ClassificationStats s(15);
  s.add(p.data(), y.data(), 10, 2);
  CHECK(s.accuracy() == Approx(0.8));
  CHECK(s.ece() == Approx(0.0).margin(1e-6));
  // Confidence 0.99, right half the time: ECE = |0.5 - 0.99| = 0.49.
  std::vector<float> q;
  std::vector<int64_t> z;
  for (int i = 0; i < 10; ++i) {
    q.insert(q.end(), {0.99f, 0.01f});
    z.push_back(i % 2);
  }
  metrics::ClassificationStats t(15);
  t.add(q.data(), z.data(), 10, 2);
  CHECK(t.ece() == Approx(0.49).margin(1e-6));
  CHECK(t.mce() == Approx(0.49).margin(1e-6));
  CHECK(t.nll() == Approx(0.5 * -std::log(0.99) + 0.5 * -std::log(0.01)).epsilon(1e-5));
  // Hand example with 3 bins: confidences 0.9 (right), 0.6 (wrong), 0.55 (right).
  std::vector<float> r{0.9f, 0.1f, 0.6f, 0.4f, 0.45f, 0.55f};
  std::vector<int64_t> lr{0, 1, 1};
  metrics::ClassificationStats u(3);
  u.add(r.data(), lr.data(), 3, 2);
  // bin (2/3, 1]: {0.9 right} -> |1 - 0.9| = 0.1; bin (1/3, 2/3]: {0.6 wrong, 0.55 right} -> |1 - 1.15| = 0.15
  CHECK(u.ece() == Approx((0.1 + 0.15) / 3).epsilon(1e-5));
}
