#pragma once
// TensorBoard scalar logs in the tfevents record format, encoded here: each record
// is [u64 length][u32 masked CRC-32C of the length][Event protobuf][u32 masked
// CRC-32C of the data]; Event{wall_time, step, file_version | summary{value{tag,
// simple_value}}}. `tensorboard --logdir runs` reads the files.
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace engine::metrics {

uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);
uint32_t masked_crc32c(const void* data, size_t n);

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

// A whole event file as bytes: the version record, then one scalar record per
// (tag, value) at `step`. A run writes one such file per epoch, atomically
// (apps/common/run_directory.h), so that a file is either complete or absent.
std::string scalar_event_file(int64_t step, const std::vector<std::pair<std::string, double>>& scalars);
// An event framed as a record: length, its masked CRC, the event, the event's masked CRC.
std::string frame_record(const std::string& event);

// Protobuf pieces, exposed for the tests' reader.
std::string encode_scalar_event(double wall_time, int64_t step, const std::string& tag, float value);
std::string encode_version_event(double wall_time);

}  // namespace engine::metrics
