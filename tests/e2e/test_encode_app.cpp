// encode_app run as a user would: embeddings to .npy and .csv files, texts from a file,
// the similarity matrix, and the errors (exit codes 1 and 2) for a missing model, no
// texts and bad options. Needs all-MiniLM-L6-v2 (tests/common/text_test_util.h). In e2e: it runs
// the encode_app executable, which sanitizer builds leave out.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "test_util.h"
#include "text_test_util.h"

using namespace engine;

namespace {

testing::ShellRun encode_app(const std::string& args) {
  return testing::run_shell(std::string(ENGINE_BINARY_DIR) + "/encode_app " + args);
}

// The f32 rows of a .npy file written by encode_app, with its shape.
std::vector<float> read_npy(const std::string& path, int64_t* rows, int64_t* cols) {
  const std::string bytes = testing::read_text(path);
  REQUIRE(bytes.size() > 10);
  REQUIRE(bytes.compare(0, 8, std::string("\x93NUMPY\x01\x00", 8)) == 0);
  const size_t header_len = size_t(uint8_t(bytes[8])) | (size_t(uint8_t(bytes[9])) << 8);
  const std::string header = bytes.substr(10, header_len);
  REQUIRE((10 + header_len) % 64 == 0);
  REQUIRE(header.find("'descr': '<f4'") != std::string::npos);
  REQUIRE(std::sscanf(header.c_str() + header.find("'shape': (") + 10, "%ld, %ld", rows, cols) == 2);
  std::vector<float> v(size_t(*rows * *cols));
  REQUIRE(bytes.size() == 10 + header_len + v.size() * 4);
  std::memcpy(v.data(), bytes.data() + 10 + header_len, v.size() * 4);
  return v;
}

double dot(const std::vector<float>& v, int64_t a, int64_t b, int64_t d) {
  double s = 0;
  for (int64_t i = 0; i < d; ++i) s += double(v[size_t(a * d + i)]) * v[size_t(b * d + i)];
  return s;
}

}  // namespace

TEST_CASE("encode_app writes unit embeddings to .npy and .csv and prints similarities", "[text][e2e]") {
  const std::string model = testing::text_encoder_dir_with("model.safetensors");
  testing::ScratchDir dir;
  auto r = encode_app("--model " + model + " 'a photo of a cat' 'a photo of a kitten' 'the stock market fell' --out " +
                      dir.file("e.npy"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  CHECK(r.output.find("cosine similarity (3 texts, 384 dimensions)") != std::string::npos);
  int64_t rows = 0, cols = 0;
  std::vector<float> v = read_npy(dir.file("e.npy"), &rows, &cols);
  REQUIRE(rows == 3);
  REQUIRE(cols == 384);
  for (int64_t i = 0; i < 3; ++i) CHECK(dot(v, i, i, 384) == Approx(1.0).epsilon(1e-5));
  CHECK(dot(v, 0, 1, 384) > dot(v, 0, 2, 384) + 0.2);
  // The same texts from a file, to CSV.
  testing::write_text_file(dir.file("texts.txt"), "a photo of a cat\r\na photo of a kitten\nthe stock market fell\n");
  r = encode_app("--model " + model + " --file " + dir.file("texts.txt") + " --quiet --out " + dir.file("e.csv"));
  REQUIRE(r.rc == 0);
  auto csv = testing::read_csv(dir.file("e.csv"));
  REQUIRE(csv.size() == 3);
  for (int64_t i = 0; i < 3; ++i) {
    REQUIRE(csv[size_t(i)].size() == 384);
    for (int64_t d = 0; d < 384; d += 50)
      CHECK(std::stod(csv[size_t(i)][size_t(d)]) == Approx(v[size_t(i * 384 + d)]).margin(1e-6));
  }
}

TEST_CASE("encode_app: errors name the problem and exit non-zero", "[text][e2e]") {
  testing::ScratchDir dir;
  auto r = encode_app("--model " + dir.file("missing") + " hello");
  CHECK(r.rc == 1);
  CHECK(r.output.find("missing does not exist") != std::string::npos);
  r = encode_app("--model " + dir.file(""));
  CHECK(r.rc == 2);
  CHECK(r.output.find("no texts") != std::string::npos);
  testing::write_text_file(dir.file("empty.txt"), "");
  r = encode_app("--model " + dir.file("") + " --file " + dir.file("empty.txt"));
  CHECK(r.rc == 2);
  CHECK(r.output.find("holds no lines") != std::string::npos);
  r = encode_app("--precision f16 hello");
  CHECK(r.rc == 2);
  CHECK(r.output.find("--precision expects f32 or bf16, got 'f16'") != std::string::npos);
  r = encode_app("--batch 0 hello");
  CHECK(r.rc == 2);
  CHECK(r.output.find("--batch expects") != std::string::npos);
  r = encode_app("--model " + dir.file("") + " hello --out e.txt");
  CHECK(r.rc == 2);
  CHECK(r.output.find("must end in .npy or .csv") != std::string::npos);
  r = encode_app("--model " + dir.file("") + " hello");
  CHECK(r.rc == 1);
  CHECK(r.output.find("vocab.txt is missing") != std::string::npos);
  r = encode_app("--help");
  CHECK(r.rc == 0);
  CHECK(r.output.find("usage") != std::string::npos);
}
