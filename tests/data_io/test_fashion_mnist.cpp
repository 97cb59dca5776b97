#include <sys/stat.h>

#include "data/fashion_mnist.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace engine;
using namespace engine::data;
using Catch::Matchers::Contains;
using engine::testing::TempDir;

namespace {

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[size_t(i)] = char((v >> (24 - 8 * i)) & 0xff);
  return s;
}

std::string idx_images(uint32_t n, uint32_t h, uint32_t w, uint32_t magic = 0x803) {
  std::string s = be32(magic) + be32(n) + be32(h) + be32(w);
  for (uint32_t i = 0; i < n * h * w; ++i) s.push_back(char((i * 7 + 3) & 0xff));
  return s;
}

std::string idx_labels(const std::vector<int>& labels, uint32_t magic = 0x801) {
  std::string s = be32(magic) + be32(uint32_t(labels.size()));
  for (int l : labels) s.push_back(char(l));
  return s;
}

bool have_real_fashion_mnist() {
  struct stat st;
  return ::stat((std::string(kFashionMnistDefaultDir) + "/train-images-idx3-ubyte.gz").c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("idx: real Fashion-MNIST train and test sets", "[data]") {
  // The dataset-fashion-mnist package is a build dependency (scripts/setup.sh).
  REQUIRE(have_real_fashion_mnist());
  Dataset train = load_fashion_mnist(kFashionMnistDefaultDir, true);
  CHECK(train.images.shape() == Shape{60000, 1, 28, 28});
  CHECK(train.labels.shape() == Shape{60000});
  CHECK(train.num_classes == 10);
  CHECK(train.class_names.size() == 10);
  CHECK(train.class_names[9] == "Ankle boot");
  std::vector<int64_t> hist = class_histogram(train);
  for (int64_t c = 0; c < 10; ++c) CHECK(hist[size_t(c)] == 6000);
  // The first training image is an ankle boot (label 9); its pixels are not all zero.
  CHECK(train.labels.data<int64_t>()[0] == 9);
  const uint8_t* px = train.images.data<uint8_t>();
  int nonzero = 0;
  for (int i = 0; i < 784; ++i) nonzero += px[i] != 0;
  CHECK(nonzero > 100);

  Dataset test = load_fashion_mnist(kFashionMnistDefaultDir, false);
  CHECK(test.images.shape() == Shape{10000, 1, 28, 28});
  for (int64_t h : class_histogram(test)) CHECK(h == 1000);
  CHECK_NOTHROW(validate(test));
}

TEST_CASE("idx: small plain and gzipped files read the same", "[data]") {
  TempDir dir;
  const std::string img = idx_images(3, 4, 5), lab = idx_labels({0, 9, 4});
  engine::testing::write_bytes(dir.file("train-images-idx3-ubyte"), img);
  engine::testing::write_bytes(dir.file("train-labels-idx1-ubyte"), lab);
  engine::testing::write_gzip(dir.file("t10k-images-idx3-ubyte.gz"), img);
  engine::testing::write_gzip(dir.file("t10k-labels-idx1-ubyte.gz"), lab);
  Dataset plain = load_fashion_mnist(dir.path(), true);
  Dataset gz = load_fashion_mnist(dir.path(), false);
  for (const Dataset* d : {&plain, &gz}) {
    REQUIRE(d->images.shape() == Shape{3, 1, 4, 5});
    CHECK(d->labels.to_vector() == std::vector<double>{0, 9, 4});
    const uint8_t* p = d->images.data<uint8_t>();
    for (int i = 0; i < 60; ++i) CHECK(p[i] == uint8_t((i * 7 + 3) & 0xff));
  }
  CHECK(plain.name == "fashion_mnist/train");
  CHECK(gz.name == "fashion_mnist/test");
}

TEST_CASE("idx: corrupt files are errors naming the file and the fault", "[data]") {
  TempDir dir;
  const std::string f = dir.file("x-idx");
  SECTION("wrong magic") {
    engine::testing::write_bytes(f, idx_images(2, 2, 2, 0x801));
    CHECK_THROWS_WITH(read_idx_images(f), Contains(f) && Contains("magic") && Contains("0x00000801"));
    engine::testing::write_bytes(f, idx_labels({1, 2}, 0x803));
    CHECK_THROWS_WITH(read_idx_labels(f), Contains(f) && Contains("magic"));
  }
  SECTION("truncated data") {
    std::string s = idx_images(4, 3, 3);
    engine::testing::write_bytes(f, s.substr(0, s.size() - 5));
    CHECK_THROWS_WITH(read_idx_images(f), Contains(f) && Contains("truncated") && Contains("36"));
  }
  SECTION("truncated header") {
    engine::testing::write_bytes(f, idx_images(4, 3, 3).substr(0, 10));
    CHECK_THROWS_WITH(read_idx_images(f), Contains(f) && Contains("truncated"));
    engine::testing::write_bytes(f, "");
    CHECK_THROWS_WITH(read_idx_images(f), Contains(f) && Contains("truncated"));
  }
  SECTION("truncated gzip stream") {
    const std::string g = dir.file("y.gz");
    std::string s = idx_images(50, 28, 28);
    engine::testing::write_gzip(g, s);
    std::string z = engine::testing::read_bytes(g);
    engine::testing::write_bytes(g, z.substr(0, z.size() / 2));
    CHECK_THROWS_WITH(read_idx_images(g), Contains(g));
  }
  SECTION("trailing bytes") {
    engine::testing::write_bytes(f, idx_labels({1, 2}) + "zz");
    CHECK_THROWS_WITH(read_idx_labels(f), Contains(f) && Contains("trailing"));
  }
  SECTION("missing file") {
    CHECK_THROWS_WITH(read_idx_labels(dir.file("nope")), Contains(dir.file("nope")));
    CHECK_THROWS_WITH(load_fashion_mnist(dir.path(), true), Contains(dir.path()) && Contains("train-images"));
  }
}

TEST_CASE("idx: count mismatch and out-of-range labels", "[data]") {
  TempDir dir;
  engine::testing::write_bytes(dir.file("train-images-idx3-ubyte"), idx_images(3, 2, 2));
  SECTION("count mismatch") {
    engine::testing::write_bytes(dir.file("train-labels-idx1-ubyte"), idx_labels({1, 2}));
    CHECK_THROWS_WITH(load_fashion_mnist(dir.path(), true), Contains("train-images-idx3-ubyte") &&
                                                                Contains("train-labels-idx1-ubyte") &&
                                                                Contains("3 images") && Contains("2 labels"));
  }
  SECTION("label out of range") {
    engine::testing::write_bytes(dir.file("train-labels-idx1-ubyte"), idx_labels({1, 10, 2}));
    CHECK_THROWS_WITH(load_fashion_mnist(dir.path(), true),
                      Contains(dir.file("train-labels-idx1-ubyte")) && Contains("label 10") && Contains("record 1"));
  }
}
