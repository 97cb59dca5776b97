// The TensorBoard event file parses back: a reader written here checks every CRC,
// decodes the protobuf and compares tags, steps and values.
#include <filesystem>
#include <fstream>

#include "metrics/classification.h"
#include "metrics/tfevents.h"
#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

struct Scalar {
  std::string tag;
  int64_t step;
  float value;
};

uint64_t varint(const std::string& s, size_t& i) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    REQUIRE(i < s.size());
    uint8_t b = uint8_t(s[i++]);
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
}

// Decodes Event{1: double, 2: varint, 3: bytes, 5: Summary{1: Value{1: tag, 2: float}}}.
void decode_event(const std::string& e, std::string* version, std::vector<Scalar>* out) {
  size_t i = 0;
  int64_t step = 0;
  std::vector<std::pair<std::string, float>> values;
  while (i < e.size()) {
    uint64_t key = varint(e, i);
    int field = int(key >> 3), wire = int(key & 7);
    if (wire == 1) {
      i += 8;
    } else if (wire == 0) {
      uint64_t v = varint(e, i);
      if (field == 2) step = int64_t(v);
    } else if (wire == 2) {
      size_t n = size_t(varint(e, i));
      std::string body = e.substr(i, n);
      i += n;
      if (field == 3) *version = body;
      if (field == 5) {
        size_t j = 0;
        while (j < body.size()) {
          REQUIRE(varint(body, j) == (1 << 3 | 2));
          size_t m = size_t(varint(body, j));
          std::string val = body.substr(j, m);
          j += m;
          size_t k = 0;
          std::string tag;
          float f = 0;
          while (k < val.size()) {
            uint64_t vk = varint(val, k);
            if (vk == (1 << 3 | 2)) {
              size_t tl = size_t(varint(val, k));
              tag = val.substr(k, tl);
              k += tl;
            } else {
              REQUIRE(vk == (2 << 3 | 5));
              std::memcpy(&f, val.data() + k, 4);
              k += 4;
            }
          }
          values.emplace_back(tag, f);
        }
      }
    } else {
      FAIL("unexpected wire type " << wire);
    }
  }
  for (auto& [t, v] : values) out->push_back(Scalar{t, step, v});
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
  std::ifstream f(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t i = 0;
  std::string version;
  std::vector<Scalar> scalars;
  int records = 0;
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
    decode_event(event, &version, &scalars);
    i += 12 + size_t(len) + 4;
    ++records;
  }
  CHECK(records == 4);
  CHECK(version == "brain.Event:2");
  REQUIRE(scalars.size() == 3);
  CHECK(scalars[0].tag == "train/loss");
  CHECK(scalars[0].step == 1);
  CHECK(scalars[0].value == 2.25f);
  CHECK(scalars[1].tag == "test/acc");
  CHECK(scalars[1].value == 0.875f);
  CHECK(scalars[2].step == 2);
  CHECK(scalars[2].value == 1.5f);
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
