#include "metrics/tfevents.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "metrics/plot/canvas.h"

namespace engine::metrics {
namespace {

// CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, table-driven.
struct Crc32cTable {
  uint32_t t[256];
  Crc32cTable() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
  }
};

void put_varint(std::string& s, uint64_t v) {
  while (v >= 0x80) {
    s.push_back(char(uint8_t(v) | 0x80));
    v >>= 7;
  }
  s.push_back(char(v));
}

template <class T>
void put_fixed(std::string& s, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
  s.append(b, sizeof(T));
}

void put_bytes_field(std::string& s, int field, const std::string& bytes) {
  put_varint(s, uint64_t(field) << 3 | 2);
  put_varint(s, bytes.size());
  s += bytes;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void put_double_field(std::string& s, int field, double v) {
  put_varint(s, uint64_t(field) << 3 | 1);
  put_fixed(s, v);
}

void put_varint_field(std::string& s, int field, uint64_t v) {
  put_varint(s, uint64_t(field) << 3 | 0);
  put_varint(s, v);
}

// A repeated double, packed: one length-delimited field holding the little-endian values.
void put_packed_doubles(std::string& s, int field, const std::vector<double>& v) {
  if (v.empty()) return;
  std::string body;
  for (double d : v) put_fixed(body, d);
  put_bytes_field(s, field, body);
}

std::string event_header(double wall_time, int64_t step) {
  std::string e;
  put_varint(e, 1 << 3 | 1);  // wall_time: double
  put_fixed(e, wall_time);
  put_varint(e, 2 << 3 | 0);  // step: int64
  put_varint(e, uint64_t(step));
  return e;
}

void check_tag(const std::string& tag) { ENGINE_CHECK(!tag.empty(), "a TensorBoard summary needs a tag"); }

// An Event carrying a Summary of one Summary.Value: the tag, then the value's field.
std::string summary_event(double wall_time, int64_t step, const std::string& tag, const std::string& value_field) {
  std::string v;
  put_bytes_field(v, 1, tag);  // Summary.Value.tag
  v += value_field;
  std::string summary;
  put_bytes_field(summary, 1, v);  // Summary.value
  std::string e = event_header(wall_time, step);
  put_bytes_field(e, 5, summary);  // Event.summary
  return e;
}

}  // namespace

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
  static const Crc32cTable table;
  const uint8_t* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table.t[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string encode_version_event(double wall_time) {
  std::string e = event_header(wall_time, 0);
  put_bytes_field(e, 3, "brain.Event:2");  // file_version
  return e;
}

std::string encode_scalar_event(double wall_time, int64_t step, const std::string& tag, float value) {
  std::string f;
  put_varint(f, 2 << 3 | 5);  // Summary.Value.simple_value: float
  put_fixed(f, value);
  return summary_event(wall_time, step, tag, f);
}

std::string encode_histogram_event(double wall_time, int64_t step, const std::string& tag, const Histogram& h) {
  ENGINE_CHECK(h.bucket_limit.size() == h.bucket.size(), "histogram '" << tag << "': " << h.bucket_limit.size()
                                                                       << " bucket limits for " << h.bucket.size()
                                                                       << " buckets");
  std::string p;  // HistogramProto
  put_double_field(p, 1, h.min);
  put_double_field(p, 2, h.max);
  put_double_field(p, 3, h.num);
  put_double_field(p, 4, h.sum);
  put_double_field(p, 5, h.sum_squares);
  put_packed_doubles(p, 6, h.bucket_limit);
  put_packed_doubles(p, 7, h.bucket);
  std::string f;
  put_bytes_field(f, 5, p);  // Summary.Value.histo
  return summary_event(wall_time, step, tag, f);
}

std::string encode_image_event(double wall_time, int64_t step, const std::string& tag, const std::string& png,
                               int height, int width, int colorspace) {
  ENGINE_CHECK(height > 0 && width > 0, "image '" << tag << "': size " << height << "x" << width);
  ENGINE_CHECK(colorspace >= 1 && colorspace <= 4,
               "image '" << tag << "': colorspace " << colorspace << " (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA)");
  std::string i;  // Summary.Image
  put_varint_field(i, 1, uint64_t(height));
  put_varint_field(i, 2, uint64_t(width));
  put_varint_field(i, 3, uint64_t(colorspace));
  put_bytes_field(i, 4, png);  // encoded_image_string
  std::string f;
  put_bytes_field(f, 4, i);  // Summary.Value.image
  return summary_event(wall_time, step, tag, f);
}

Histogram Histogram::of_values(const std::vector<double>& values, int bins) {
  ENGINE_CHECK(bins >= 1, "a histogram needs at least one bucket, got " << bins);
  Histogram h;
  if (values.empty()) return h;
  h.min = h.max = values[0];
  for (double v : values) {
    ENGINE_CHECK(std::isfinite(v), "histogram of values: non-finite value " << v);
    h.min = std::min(h.min, v);
    h.max = std::max(h.max, v);
    h.sum += v;
    h.sum_squares += v * v;
  }
  h.num = double(values.size());
  if (h.max == h.min) {
    h.bucket_limit = {h.max};
    h.bucket = {h.num};
    return h;
  }
  double width = (h.max - h.min) / bins;
  h.bucket.assign(size_t(bins), 0.0);
  for (int b = 1; b <= bins; ++b) h.bucket_limit.push_back(b == bins ? h.max : h.min + width * b);
  for (double v : values) h.bucket[std::min(size_t(bins) - 1, size_t((v - h.min) / width))] += 1;
  return h;
}

Histogram Histogram::of_buckets(const std::vector<double>& edges, const std::vector<double>& counts) {
  ENGINE_CHECK(!counts.empty() && edges.size() == counts.size() + 1,
               "histogram of buckets: " << edges.size() << " edges for " << counts.size() << " buckets");
  Histogram h;
  h.min = edges.front();
  h.max = edges.back();
  for (size_t i = 0; i < counts.size(); ++i) {
    ENGINE_CHECK(edges[i] < edges[i + 1],
                 "histogram of buckets: edges must increase, got " << edges[i] << " then " << edges[i + 1]);
    ENGINE_CHECK(std::isfinite(counts[i]) && counts[i] >= 0, "histogram of buckets: count " << counts[i]);
    double mid = 0.5 * (edges[i] + edges[i + 1]);
    h.num += counts[i];
    h.sum += counts[i] * mid;
    h.sum_squares += counts[i] * mid * mid;
    h.bucket_limit.push_back(edges[i + 1]);
    h.bucket.push_back(counts[i]);
  }
  return h;
}

Histogram Histogram::per_index(const std::vector<double>& counts) {
  std::vector<double> edges(counts.size() + 1);
  for (size_t i = 0; i < edges.size(); ++i) edges[i] = double(i);
  return of_buckets(edges, counts);
}

EventFileBuilder::EventFileBuilder(int64_t step) : EventFileBuilder(step, now_seconds()) {}

EventFileBuilder::EventFileBuilder(int64_t step, double wall_time)
    : step_(step), wall_time_(wall_time), bytes_(frame_record(encode_version_event(wall_time))) {}

EventFileBuilder& EventFileBuilder::add_scalar(const std::string& tag, double value) {
  check_tag(tag);
  bytes_ += frame_record(encode_scalar_event(wall_time_, step_, tag, float(value)));
  ++values_;
  return *this;
}

EventFileBuilder& EventFileBuilder::add_histogram(const std::string& tag, const Histogram& h) {
  check_tag(tag);
  bytes_ += frame_record(encode_histogram_event(wall_time_, step_, tag, h));
  ++values_;
  return *this;
}

EventFileBuilder& EventFileBuilder::add_histogram(const std::string& tag, const std::vector<double>& values, int bins) {
  return add_histogram(tag, Histogram::of_values(values, bins));
}

EventFileBuilder& EventFileBuilder::add_image(const std::string& tag, const std::string& png, int height, int width,
                                              int colorspace) {
  check_tag(tag);
  static const char kPngSignature[] = "\x89PNG\r\n\x1a\n";
  ENGINE_CHECK(png.compare(0, 8, kPngSignature, 8) == 0, "image '" << tag << "': not PNG data");
  bytes_ += frame_record(encode_image_event(wall_time_, step_, tag, png, height, width, colorspace));
  ++values_;
  return *this;
}

EventFileBuilder& EventFileBuilder::add_image(const std::string& tag, const plot::Canvas& canvas) {
  return add_image(tag, canvas.encode_png(), canvas.height(), canvas.width(), kColorspaceRgb);
}

EventWriter::EventWriter(const std::string& dir) {
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  double t = now_seconds();
  path_ = dir + "/events.out.tfevents." + std::to_string(int64_t(t)) + "." + host;
  out_.open(path_, std::ios::binary | std::ios::app);
  ENGINE_CHECK(out_.good(), "cannot open TensorBoard event file '" << path_ << "' for writing");
  write_record(encode_version_event(t));
}

std::string frame_record(const std::string& event) {
  std::string rec;
  uint64_t len = event.size();
  put_fixed(rec, len);
  put_fixed(rec, masked_crc32c(rec.data(), 8));
  rec += event;
  put_fixed(rec, masked_crc32c(event.data(), event.size()));
  return rec;
}

std::string scalar_event_file(int64_t step, const std::vector<std::pair<std::string, double>>& scalars) {
  EventFileBuilder b(step);
  for (const auto& [tag, value] : scalars) b.add_scalar(tag, value);
  return b.bytes();
}

void EventWriter::write_record(const std::string& event) {
  std::string rec = frame_record(event);
  out_.write(rec.data(), std::streamsize(rec.size()));
  ENGINE_CHECK(out_.good(), "writing the TensorBoard event file '" << path_ << "' failed");
}

void EventWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  write_record(encode_scalar_event(now_seconds(), step, tag, float(value)));
}

}  // namespace engine::metrics
