// Mutated safetensors files: byte-level mutations of files written by save_safetensors,
// and structured ones of their header (length, dtypes, shapes, offsets, names,
// metadata). Each must load or be refused with an engine::Error that has a message; a
// file that loads must give tensors whose sizes and bytes are those the file holds.
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/io/safetensors.h"
#include "fuzz_util.h"
#include "test_util.h"

using namespace engine;
using engine::fuzz::FuzzRun;
using engine::fuzz::Rng;
using engine::fuzz::Violation;
using OJson = nlohmann::ordered_json;

namespace {

constexpr size_t kCases = 10000;
constexpr double kSeconds = 30;

uint64_t read_le64(const std::string& bytes) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[size_t(i)]);
  return v;
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}

// Valid files: every dtype, 0-d and 0-sized tensors, with and without metadata.
const std::vector<std::string>& valid_files(const std::string& dir) {
  static const std::vector<std::string> files = [&] {
    std::vector<std::pair<io::NamedTensors, std::map<std::string, std::string>>> sets;
    io::NamedTensors all;
    all.emplace_back("conv1.weight", Tensor::from_vector({1.5, -2.25, 3, 4, 5, 6}, {2, 3}, DType::f32));
    all.emplace_back("f64", Tensor::from_vector({1e-300, -7.0, 3.25}, {3}, DType::f64));
    all.emplace_back("bf16", Tensor::from_vector({1, -0.5, 65504, 1e-3}, {2, 2}, DType::bf16));
    all.emplace_back("f16", Tensor::from_vector({1, -0.5, 65504, 1e-3}, {4, 1}, DType::f16));
    all.emplace_back("i32", Tensor::from_vector({-7, 2147483647.0, 0}, {3}, DType::i32));
    all.emplace_back("bn1.num_batches_tracked", Tensor::scalar(12345, DType::i64));
    all.emplace_back("u8", Tensor::from_vector({0, 255, 17}, {1, 3}, DType::u8));
    all.emplace_back("empty", Tensor::empty({0, 4}, DType::f32));
    sets.emplace_back(all, std::map<std::string, std::string>{{"format", "pt"}, {"step", "42"}});
    sets.emplace_back(io::NamedTensors{{"w", Tensor::from_vector({1, 2, 3, 4}, {4}, DType::f32)}},
                      std::map<std::string, std::string>{});
    sets.emplace_back(io::NamedTensors{{"a", Tensor::empty({0}, DType::u8)},
                                       {"b", Tensor::empty({3, 0, 5}, DType::f64)},
                                       {"c", Tensor::from_vector({1, 2, 3, 4}, {2, 2}, DType::i64)}},
                      std::map<std::string, std::string>{{"note", "zero-sized"}});
    sets.emplace_back(io::NamedTensors{}, std::map<std::string, std::string>{{"only", "metadata"}});
    sets.emplace_back(io::NamedTensors{}, std::map<std::string, std::string>{});
    std::vector<std::string> out;
    for (size_t i = 0; i < sets.size(); ++i) {
      std::string p = dir + "/valid" + std::to_string(i) + ".safetensors";
      io::save_safetensors(p, sets[i].first, sets[i].second);
      out.push_back(testing::read_text(p));
    }
    return out;
  }();
  return files;
}

// What a file that loaded must satisfy: every tensor's byte size is its shape times its
// dtype, lies inside the data section, and holds the bytes the header points at.
void check_loaded(const std::string& path, const std::string& bytes, const io::SafetensorsData& d) {
  if (bytes.size() < 8) throw Violation{"a file shorter than 8 bytes loaded"};
  uint64_t header_len = read_le64(bytes);
  if (header_len > bytes.size() - 8) throw Violation{"a header longer than the file loaded"};
  const uint64_t data_start = 8 + header_len, data_size = bytes.size() - data_start;
  io::SafetensorsHeader h = io::read_safetensors_header(path);
  if (h.data_start != data_start) throw Violation{"the data section starts elsewhere than 8 + header length"};
  if (d.order.size() != d.tensors.size() || h.entries.size() != d.tensors.size())
    throw Violation{"names in order, tensors and header entries differ in number"};
  uint64_t total = 0;
  for (const auto& e : h.entries) {
    if (!d.contains(e.name)) throw Violation{"header entry '" + e.name + "' was not loaded"};
    const Tensor& t = d.at(e.name);
    if (!t.device().is_cpu() || !t.is_contiguous() || t.dtype() != e.dtype || t.shape() != e.shape)
      throw Violation{"tensor '" + e.name + "' is not the contiguous CPU tensor its header entry describes"};
    uint64_t numel = 1;
    for (int64_t dim : t.shape()) {
      if (dim < 0) throw Violation{"tensor '" + e.name + "' has a negative size"};
      numel *= uint64_t(dim);
    }
    uint64_t nbytes = numel * dtype_size(t.dtype());
    if (t.nbytes() != nbytes || e.end - e.begin != nbytes || e.begin > e.end || e.end > data_size)
      throw Violation{"tensor '" + e.name + "': " + std::to_string(t.nbytes()) + " bytes, offsets [" +
                      std::to_string(e.begin) + ", " + std::to_string(e.end) + "] in a " + std::to_string(data_size) +
                      "-byte data section"};
    total += nbytes;
    if (nbytes > 0 && std::memcmp(t.data_ptr(), bytes.data() + data_start + e.begin, nbytes) != 0)
      throw Violation{"tensor '" + e.name + "' does not hold the bytes of its range"};
  }
  if (total > data_size) throw Violation{"the tensors hold more bytes than the data section"};
}

void load_and_check(const std::string& path, const std::string& bytes) {
  io::SafetensorsData d = io::load_safetensors(path);
  check_loaded(path, bytes, d);
}

OJson odd_shape(Rng& rng, const OJson& shape) {
  const uint64_t big = uint64_t(1) << 32;
  switch (rng.below(20)) {
    case 0: return OJson::array({big, big, 16});
    case 1: return OJson::array({0, big, big, big});
    case 2: return OJson::array({big, big, 0});
    case 3: return OJson::array({uint64_t(1) << 40, uint64_t(1) << 40, 0, 1});
    case 4: return OJson::array({0, uint64_t(1) << 62, 4});
    case 5: return OJson::array({-1});
    case 6: return OJson::array({2, -3});
    case 7: return OJson::array();
    case 8: return OJson(std::vector<int>(9, 1));
    case 9: return OJson(std::vector<int>(100, 1));
    case 10: return OJson::array({uint64_t(18446744073709551615ull)});
    case 11: return OJson::array({int64_t(9223372036854775807ll), 2});
    case 12: return OJson::array({1.5});
    case 13: return OJson::array({"2"});
    case 14: return OJson::array({nullptr});
    case 15: return rng.chance(50) ? OJson(3) : OJson(nullptr);
    case 16: return OJson::object();
    default: {  // the real shape with one dim changed
      OJson s = shape.is_array() ? shape : OJson::array({1});
      if (s.empty()) return OJson::array({rng.below(3)});
      size_t i = rng.below(s.size());
      uint64_t v = s[i].is_number_integer() ? s[i].get<uint64_t>() : 1;  // wraps, as intended, on any value
      s[i] = rng.pick(std::vector<uint64_t>{v + 1, v - 1, 0, v * 2, uint64_t(1) << 33});
      return s;
    }
  }
}

OJson odd_offsets(Rng& rng, const OJson& offsets, uint64_t data_size, const std::vector<OJson>& all_offsets) {
  uint64_t b = 0, e = 0;
  if (offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned()) {
    b = offsets[0].get<uint64_t>();
    e = offsets[1].get<uint64_t>();
  }
  switch (rng.below(16)) {
    case 0: return OJson::array({e, b});
    case 1: return OJson::array({b, b});
    case 2: return OJson::array({b + 1, e + 1});
    case 3: return OJson::array({b - 1, e - 1});  // wraps when b is 0
    case 4: return OJson::array({0, data_size});
    case 5: return OJson::array({data_size, data_size + (e - b)});
    case 6: return OJson::array({uint64_t(18446744073709551615ull), uint64_t(18446744073709551615ull)});
    case 7: return OJson::array({uint64_t(1) << 63, (uint64_t(1) << 63) + (e - b)});
    case 8: return OJson::array({-1, int64_t(e - b) - 1});
    case 9: return OJson::array({1.5, 2});
    case 10: return OJson::array({"0", "4"});
    case 11: return OJson::array({b});
    case 12: return OJson::array({b, e, e});
    case 13: return nullptr;
    default:  // another tensor's range: overlapping or shared
      return all_offsets.empty() ? OJson::array({b, e}) : all_offsets[rng.below(all_offsets.size())];
  }
}

OJson odd_metadata(Rng& rng) {
  switch (rng.below(9)) {
    case 0: return OJson{{"a", 1}};
    case 1: return OJson{{"a", nullptr}};
    case 2: return OJson{{"a", OJson::object()}};
    case 3: return "x";
    case 4: return OJson::array();
    case 5: return nullptr;
    case 6: return OJson{{"", ""}};
    case 7: return OJson{{std::string("k\0ey", 4), std::string("v\0", 2)}};
    default: return OJson{{"format", "pt"}, {"long", std::string(100000, 'm')}};
  }
}

// One structured change to the header of a valid file.
void mutate_header(Rng& rng, OJson& header, uint64_t data_size) {
  std::vector<std::string> names;
  std::vector<OJson> all_offsets;
  for (auto it = header.begin(); it != header.end(); ++it)
    if (it.key() != "__metadata__") {
      names.push_back(it.key());
      if (it.value().is_object() && it.value().contains("data_offsets"))
        all_offsets.push_back(it.value()["data_offsets"]);
    }
  if (names.empty() || rng.chance(10)) {
    switch (rng.below(4)) {
      case 0: header["__metadata__"] = odd_metadata(rng); return;
      case 1:
        header[rng.pick(std::vector<std::string>{"", "__metadata__ ", std::string("n\0", 2), std::string(5000, 'n')})] =
            {{"dtype", "U8"}, {"shape", {0}}, {"data_offsets", {0, 0}}};
        return;
      case 2: header["extra"] = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}}; return;
      default: header["__metadata__"] = OJson{{"k", "v"}}; return;
    }
  }
  OJson& e = header[rng.pick(names)];
  if (!e.is_object()) {
    e = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}};
    return;
  }
  switch (rng.below(8)) {
    case 0:
      e["dtype"] =
          rng.pick(std::vector<OJson>{"F32", "F64", "BF16", "F16", "I32", "I64", "U8", "BOOL", "I8", "U16", "F8_E4M3",
                                      "C64", "f32", "", "F32 ", 32, nullptr, OJson::array({"F32"})});
      return;
    case 1:
    case 2: e["shape"] = odd_shape(rng, e.contains("shape") ? e["shape"] : OJson()); return;
    case 3:
    case 4:
      e["data_offsets"] =
          odd_offsets(rng, e.contains("data_offsets") ? e["data_offsets"] : OJson(), data_size, all_offsets);
      return;
    case 5: e.erase(rng.pick(std::vector<std::string>{"dtype", "shape", "data_offsets"})); return;
    case 6: e["unknown_field"] = rng.chance(50) ? OJson(1) : OJson::array(); return;
    default: e = rng.pick(std::vector<OJson>{1, "x", OJson::array(), nullptr, OJson::object()}); return;
  }
}

// Header text: the dump, sometimes with a member duplicated in the text (a name twice).
std::string header_text(Rng& rng, const OJson& header) {
  std::string text = header.dump();
  if (rng.chance(8) && header.size() > 0) {
    auto it = header.begin();
    std::advance(it, long(rng.below(header.size())));
    std::string member = OJson(it.key()).dump() + ":" + it.value().dump();
    text = "{" + member + "," + text.substr(1);
  }
  if (rng.chance(85)) text.append((8 - text.size() % 8) % 8, ' ');
  if (rng.chance(4)) text += rng.pick(std::vector<std::string>{std::string(3, '\0'), "x", "}", "\n"});
  return text;
}

// The 8-byte length: mostly right, sometimes 0, past the file, or huge.
uint64_t header_length(Rng& rng, uint64_t real, uint64_t file_size) {
  if (rng.chance(85)) return real;
  return rng.pick(std::vector<uint64_t>{0, real - 1, real + 1, file_size - 8, file_size - 7, file_size, (100ull << 20),
                                        (100ull << 20) + 1, uint64_t(1) << 63, uint64_t(18446744073709551615ull),
                                        rng.next()});
}

}  // namespace

TEST_CASE("safetensors fuzz: byte mutations of valid files", "[fuzz]") {
  FuzzRun run("safetensors bytes", 4, kCases, kSeconds);
  const auto& files = valid_files(run.scratch_dir());
  const std::string path = run.scratch_dir() + "/case.safetensors";
  while (run.next()) {
    Rng& rng = run.rng();
    std::string bytes = engine::fuzz::mutate(rng, rng.pick(files), files, 4);
    if (bytes.size() >= 8 && rng.chance(15))
      bytes = le64(header_length(rng, read_le64(bytes), bytes.size())) + bytes.substr(8);
    testing::write_text(path, bytes);
    run.run_case(bytes, [&] { load_and_check(path, bytes); });
  }
  run.finish();
}

TEST_CASE("safetensors fuzz: structured header mutations (lengths, dtypes, shapes, offsets, names, metadata)",
          "[fuzz]") {
  FuzzRun run("safetensors header", 5, kCases, kSeconds);
  const auto& files = valid_files(run.scratch_dir());
  const std::string path = run.scratch_dir() + "/case.safetensors";
  while (run.next()) {
    Rng& rng = run.rng();
    const std::string& valid = rng.pick(files);
    uint64_t len = read_le64(valid);
    OJson header = OJson::parse(valid.substr(8, size_t(len)));
    std::string data = valid.substr(8 + size_t(len));
    size_t steps = 1 + rng.below(3);
    for (size_t i = 0; i < steps; ++i) mutate_header(rng, header, data.size());
    std::string text = header_text(rng, header);
    if (rng.chance(10)) {  // the data section cut or extended
      if (rng.chance(50))
        data = data.substr(0, rng.below(data.size() + 1));
      else
        data += std::string(1 + rng.below(64), char(rng.below(256)));
    }
    uint64_t file_size = 8 + text.size() + data.size();
    std::string bytes = le64(header_length(rng, text.size(), file_size)) + text + data;
    if (rng.chance(10)) bytes = engine::fuzz::mutate(rng, bytes, files, 1);
    testing::write_text(path, bytes);
    run.run_case(bytes, [&] { load_and_check(path, bytes); });
  }
  run.finish();
}
