#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "data/cifar.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace engine;
using namespace engine::data;
using Catch::Matchers::Contains;
using engine::testing::TempDir;
using engine::testing::write_bytes;

namespace {

uint8_t pixel(int64_t record, int64_t i) { return uint8_t((record * 31 + i * 7) & 0xff); }

// Records of `label_bytes` label bytes then 3,072 pixel bytes; record r's pixels are
// pixel(first + r, i) so that files concatenate into one recognisable sequence.
std::string cifar_file(const std::vector<std::vector<int>>& labels, int64_t first) {
  std::string s;
  for (size_t r = 0; r < labels.size(); ++r) {
    for (int l : labels[r]) s.push_back(char(l));
    for (int64_t i = 0; i < kCifarImageBytes; ++i) s.push_back(char(pixel(first + int64_t(r), i)));
  }
  return s;
}

void check_pixels(const Dataset& d, int64_t first_record) {
  const uint8_t* p = d.images.data<uint8_t>();
  for (int64_t r = 0; r < d.size(); ++r)
    for (int64_t i = 0; i < kCifarImageBytes; i += 97)
      REQUIRE(p[r * kCifarImageBytes + i] == pixel(first_record + r, i));
}

// Writes five training batches of 2 records each (labels 0..9) and a test batch of 3.
void write_cifar10(const std::string& dir) {
  for (int b = 0; b < 5; ++b)
    write_bytes(dir + "/data_batch_" + std::to_string(b + 1) + ".bin", cifar_file({{2 * b}, {2 * b + 1}}, 2 * b));
  write_bytes(dir + "/test_batch.bin", cifar_file({{3}, {1}, {4}}, 100));
}

}  // namespace

TEST_CASE("cifar10: small batches, record ranges, class names", "[data]") {
  TempDir dir;
  write_cifar10(dir.path());
  CifarOptions loose;
  loose.check_counts = false;
  Dataset train = load_cifar10(dir.path(), true, loose);
  REQUIRE(train.images.shape() == Shape{10, 3, 32, 32});
  CHECK(train.labels.to_vector() == std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  check_pixels(train, 0);
  CHECK(train.class_names == cifar10_default_class_names());
  CHECK(train.num_classes == 10);

  // A range across the boundary of batches 2 and 3.
  CifarOptions range = loose;
  range.begin = 3;
  range.end = 6;
  Dataset part = load_cifar10(dir.path(), true, range);
  CHECK(part.labels.to_vector() == std::vector<double>{3, 4, 5});
  check_pixels(part, 3);

  write_bytes(dir.file("batches.meta.txt"), "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n");
  Dataset test = load_cifar10(dir.path(), false, loose);
  CHECK(test.labels.to_vector() == std::vector<double>{3, 1, 4});
  check_pixels(test, 100);
  CHECK(test.class_names.front() == "a");
  CHECK(test.class_names.back() == "j");

  CHECK(parse_record_range("0-999") == std::pair<int64_t, int64_t>{0, 1000});
  CHECK(parse_record_range("7") == std::pair<int64_t, int64_t>{7, 8});
  CHECK_THROWS_WITH(parse_record_range("9-3"), Contains("9-3"));
  CHECK_THROWS_WITH(parse_record_range("x"), Contains("'x'"));
}

TEST_CASE("cifar10: corrupt files are errors naming the file", "[data]") {
  TempDir dir;
  write_cifar10(dir.path());
  CifarOptions loose;
  loose.check_counts = false;
  SECTION("truncated record") {
    std::string s = cifar_file({{1}, {2}}, 0);
    write_bytes(dir.file("data_batch_4.bin"), s.substr(0, s.size() - 100));
    CHECK_THROWS_WITH(load_cifar10(dir.path(), true, loose),
                      Contains(dir.file("data_batch_4.bin")) && Contains("3073-byte records"));
  }
  SECTION("record count") {
    CHECK_THROWS_WITH(load_cifar10(dir.path(), false),
                      Contains(dir.file("test_batch.bin")) && Contains("3 records, expected 10000"));
  }
  SECTION("label out of range") {
    write_bytes(dir.file("test_batch.bin"), cifar_file({{3}, {10}}, 0));
    CHECK_THROWS_WITH(load_cifar10(dir.path(), false, loose),
                      Contains(dir.file("test_batch.bin")) && Contains("record 1") && Contains("label 10"));
  }
  SECTION("missing batch") {
    ::unlink(dir.file("data_batch_5.bin").c_str());
    CHECK_THROWS_WITH(load_cifar10(dir.path(), true, loose), Contains(dir.file("data_batch_5.bin")));
  }
  SECTION("range outside the records") {
    CifarOptions r = loose;
    r.begin = 2;
    r.end = 4;
    CHECK_THROWS_WITH(load_cifar10(dir.path(), false, r), Contains("[2, 4)") && Contains("3 records"));
  }
  SECTION("no dataset folder") {
    CHECK_THROWS_WITH(load_cifar10(dir.file("nothing"), true), Contains(dir.file("nothing")));
  }
}

TEST_CASE("cifar100: fine and coarse labels", "[data]") {
  TempDir dir;
  const std::string sub = dir.file("cifar-100-binary");
  REQUIRE(::mkdir(sub.c_str(), 0755) == 0);
  write_bytes(sub + "/train.bin", cifar_file({{0, 99}, {19, 5}, {7, 42}, {3, 0}}, 0));
  write_bytes(sub + "/test.bin", cifar_file({{11, 64}}, 50));
  CifarOptions loose;
  loose.check_counts = false;
  // The parent folder resolves to cifar-100-binary/.
  Dataset fine = load_cifar100(dir.path(), true, Cifar100Labels::fine, loose);
  CHECK(fine.labels.to_vector() == std::vector<double>{99, 5, 42, 0});
  CHECK(fine.num_classes == 100);
  CHECK(fine.class_names.size() == 100);
  CHECK(fine.class_names[99] == "worm");
  check_pixels(fine, 0);
  Dataset coarse = load_cifar100(dir.path(), true, Cifar100Labels::coarse, loose);
  CHECK(coarse.labels.to_vector() == std::vector<double>{0, 19, 7, 3});
  CHECK(coarse.num_classes == 20);
  CHECK(coarse.class_names.size() == 20);
  CHECK(coarse.class_names[19] == "vehicles_2");
  check_pixels(coarse, 0);
  Dataset test = load_cifar100(sub, false, Cifar100Labels::fine, loose);
  CHECK(test.labels.to_vector() == std::vector<double>{64});
  check_pixels(test, 50);

  SECTION("coarse label out of range, even when fine labels are used") {
    write_bytes(sub + "/test.bin", cifar_file({{11, 64}, {20, 1}}, 0));
    CHECK_THROWS_WITH(load_cifar100(dir.path(), false, Cifar100Labels::fine, loose),
                      Contains(sub + "/test.bin") && Contains("label 20") && Contains("[0, 20)"));
  }
  SECTION("fine label out of range") {
    write_bytes(sub + "/test.bin", cifar_file({{11, 100}}, 0));
    CHECK_THROWS_WITH(load_cifar100(dir.path(), false, Cifar100Labels::coarse, loose),
                      Contains(sub + "/test.bin") && Contains("label 100"));
  }
  SECTION("truncated") {
    std::string s = cifar_file({{1, 1}, {2, 2}}, 0);
    write_bytes(sub + "/train.bin", s.substr(0, s.size() - 1));
    CHECK_THROWS_WITH(load_cifar100(dir.path(), true, Cifar100Labels::fine, loose),
                      Contains(sub + "/train.bin") && Contains("3074-byte records"));
  }
  SECTION("record count") {
    CHECK_THROWS_WITH(load_cifar100(dir.path(), true), Contains(sub + "/train.bin") && Contains("expected 50000"));
  }
}

// Runs only when asked for ([.] hides it) and the data is there: the real CIFAR-10.
TEST_CASE("cifar10: real data from ENGINE_CIFAR10_DIR", "[.][cifar10]") {
  const char* dir = std::getenv("ENGINE_CIFAR10_DIR");
  REQUIRE(dir != nullptr);
  Dataset train = load_cifar10(dir, true);
  CHECK(train.size() == 50000);
  for (int64_t h : class_histogram(train)) CHECK(h == 5000);
  CifarOptions first;
  first.end = 1000;
  Dataset test = load_cifar10(dir, false, first);
  CHECK(test.size() == 1000);
  CHECK(test.class_names[0] == "airplane");
}
