#include "metrics/tfevents.h"

#include <unistd.h>

#include <chrono>
#include <cstring>

#include "base/check.h"

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

std::string event_header(double wall_time, int64_t step) {
  std::string e;
  put_varint(e, 1 << 3 | 1);  // wall_time: double
  put_fixed(e, wall_time);
  put_varint(e, 2 << 3 | 0);  // step: int64
  put_varint(e, uint64_t(step));
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
  std::string v;
  put_bytes_field(v, 1, tag);  // Summary.Value.tag
  put_varint(v, 2 << 3 | 5);   // Summary.Value.simple_value: float
  put_fixed(v, value);
  std::string summary;
  put_bytes_field(summary, 1, v);  // Summary.value
  std::string e = event_header(wall_time, step);
  put_bytes_field(e, 5, summary);  // Event.summary
  return e;
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
  double t = now_seconds();
  std::string bytes = frame_record(encode_version_event(t));
  for (const auto& [tag, value] : scalars) bytes += frame_record(encode_scalar_event(t, step, tag, float(value)));
  return bytes;
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
