#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace engine;
using namespace engine::io;
using Catch::Matchers::Contains;
using engine::testing::read_bytes;
using engine::testing::TempDir;
using engine::testing::write_bytes;

namespace {

bool same_bytes(const Tensor& a, const Tensor& b) {
  Tensor x = a.contiguous(), y = b.contiguous();
  return x.shape() == y.shape() && x.dtype() == y.dtype() &&
         (x.nbytes() == 0 || std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0);
}

// A file laid out by hand: 8-byte little-endian length, header, data.
std::string st_file(const std::string& header, const std::string& data) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((uint64_t(header.size()) >> (8 * i)) & 0xff);
  return s + header + data;
}

NamedTensors sample_tensors() {
  NamedTensors t;
  t.emplace_back("conv1.weight", Tensor::from_vector({1.5, -2.25, 3, 4, 5, 6}, {2, 3}, DType::f32));
  t.emplace_back("f64", Tensor::from_vector({1e-300, -7.0, 3.141592653589793}, {3}, DType::f64));
  t.emplace_back("bf16", Tensor::from_vector({1, -0.5, 65504, 1e-3}, {2, 2}, DType::bf16));
  t.emplace_back("f16", Tensor::from_vector({1, -0.5, 65504, 1e-3}, {4, 1}, DType::f16));
  t.emplace_back("i32", Tensor::from_vector({-2147483648.0, 2147483647.0, 0}, {3}, DType::i32));
  t.emplace_back("bn1.num_batches_tracked", Tensor::scalar(123456789012.0, DType::i64));  // 0-d
  t.emplace_back("u8", Tensor::from_vector({0, 255, 17}, {1, 3}, DType::u8));
  t.emplace_back("empty", Tensor::empty({0, 4}, DType::f32));
  return t;
}

}  // namespace

TEST_CASE("safetensors: round trip of every dtype, 0-d and empty tensors, metadata", "[io]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  NamedTensors in = sample_tensors();
  // A strided view is written as its logical contents.
  Tensor base = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f32);
  in.emplace_back("transposed", base.transpose(0, 1));
  save_safetensors(path, in, {{"format", "pt"}, {"step", "42"}});

  SafetensorsData out = load_safetensors(path);
  REQUIRE(out.tensors.size() == in.size());
  std::vector<std::string> names;
  for (const auto& [name, t] : in) {
    names.push_back(name);
    INFO(name);
    REQUIRE(out.contains(name));
    CHECK(same_bytes(out.at(name), t));
    CHECK(out.at(name).device().is_cpu());
  }
  CHECK(out.order == names);
  CHECK(out.at("bn1.num_batches_tracked").dim() == 0);
  CHECK(out.at("bn1.num_batches_tracked").item() == 123456789012.0);
  CHECK(out.at("transposed").to_vector() == std::vector<double>{1, 4, 2, 5, 3, 6});
  CHECK(out.metadata == std::map<std::string, std::string>{{"format", "pt"}, {"step", "42"}});
  CHECK_THROWS_WITH(out.at("fc.weight"), Contains("fc.weight") && Contains("conv1.weight"));

  // The layout other readers expect: little-endian length, space-padded JSON header
  // whose length is a multiple of 8, tensors back to back in the given order.
  std::string raw = read_bytes(path);
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | uint8_t(raw[size_t(i)]);
  CHECK(len % 8 == 0);
  nlohmann::json h = nlohmann::json::parse(raw.substr(8, len));
  CHECK(h["conv1.weight"]["dtype"] == "F32");
  CHECK(h["conv1.weight"]["data_offsets"] == nlohmann::json::array({0, 24}));
  CHECK(h["bf16"]["dtype"] == "BF16");
  CHECK(h["bn1.num_batches_tracked"]["shape"] == nlohmann::json::array());
  CHECK(h["__metadata__"]["step"] == "42");
  CHECK(raw.size() == 8 + len + 24 + 24 + 8 + 8 + 12 + 8 + 3 + 0 + 24);
  float first;
  std::memcpy(&first, raw.data() + 8 + len, 4);
  CHECK(first == 1.5f);

  SafetensorsHeader hdr = read_safetensors_header(path);
  CHECK(hdr.entries.size() == in.size());
  CHECK(hdr.entries[0].name == "conv1.weight");
  CHECK(hdr.data_start == 8 + len);
}

TEST_CASE("safetensors: reads a file laid out by hand", "[io]") {
  TempDir dir;
  const std::string path = dir.file("hand.safetensors");
  float f[2] = {0.25f, -8.0f};
  int64_t i = -3;
  std::string data(reinterpret_cast<const char*>(&i), 8);
  data += std::string(reinterpret_cast<const char*>(f), 8);
  write_bytes(path, st_file(R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                            R"("a":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})",
                            data));
  SafetensorsData d = load_safetensors(path);
  CHECK(d.order == std::vector<std::string>{"a", "b"});
  CHECK(d.at("a").item() == -3);
  CHECK(d.at("b").to_vector() == std::vector<double>{0.25, -8.0});
  CHECK(d.metadata.empty());
}

TEST_CASE("safetensors: corrupt files are errors naming the file and the tensor", "[io]") {
  TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  auto expect_error = [&](const std::string& bytes, const std::string& what) {
    write_bytes(p, bytes);
    CHECK_THROWS_WITH(load_safetensors(p), Contains(p) && Contains(what));
  };
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  expect_error("", "too short");
  expect_error(std::string("\x40\0\0\0\0\0\0\0{}", 10), "header length 64");
  expect_error(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}", "header length");
  expect_error(st_file("{\"w\": [", ""), "not valid JSON");
  expect_error(st_file("[1, 2]", ""), "not a JSON object");
  expect_error(st_file(R"({"w":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}})", "x"), "'w'");
  expect_error(st_file(R"({"w":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}})", "x"), "BOOL");
  expect_error(st_file("{" + ok_entry + "}", "1234"), "outside");  // truncated data
  expect_error(st_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "12345678"), "needs 12");
  expect_error(st_file(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", "12345678"), "bad shape");
  expect_error(st_file(R"({"w":{"dtype":"F32","shape":[2]}})", "12345678"), "data_offsets");
  expect_error(st_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", "12345678"), "'w'");
  expect_error(st_file(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", "12345678"),
               "'w'");
  expect_error(st_file("{" + ok_entry + R"(,"v":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", "12345678"),
               "overlap");
  expect_error(st_file(R"({"__metadata__":{"a":1}})", ""), "metadata");
  // A hostile header: nesting past the JSON reader's bound, and a number past double.
  expect_error(st_file("{\"w\":" + std::string(100000, '[') + std::string(100000, ']') + "}", ""),
               "nested deeper than 64 levels");
  expect_error(st_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,1e999]}})", "12345678"),
               "number out of range");
  CHECK_THROWS_WITH(load_safetensors(dir.file("missing")), Contains(dir.file("missing")));
}

TEST_CASE("safetensors: a tensor named twice in the header is refused, not shadowed", "[io]") {
  // The JSON reader kept the last entry of a name silently: the first one's bytes were
  // never checked, and another reader might take that one.
  TempDir dir;
  const std::string p = dir.file("dup.safetensors");
  write_bytes(p, st_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("w":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
                         "12345678"));
  CHECK_THROWS_WITH(load_safetensors(p), Contains(p) && Contains("the key \"w\" appears twice"));
  write_bytes(p, st_file(R"({"__metadata__":{"a":"1","a":"2"}})", ""));
  CHECK_THROWS_WITH(read_safetensors_header(p), Contains("the key \"a\" appears twice"));
  // The same key in different objects is fine.
  write_bytes(p, st_file(R"({"__metadata__":{"w":"x"},"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "z"));
  CHECK(load_safetensors(p).metadata.at("w") == "x");
}

TEST_CASE("safetensors: empty tensors load whatever their other sizes, within what strides can hold", "[io]") {
  TempDir dir;
  const std::string p = dir.file("empty.safetensors");
  // A zero after a non-zero size was bounded by the (empty) data section: [4, 0] alone
  // in a file was refused as needing more bytes than the file holds.
  save_safetensors(p, {{"w", Tensor::empty({4, 0}, DType::f32)}});
  CHECK(load_safetensors(p).at("w").shape() == Shape{4, 0});
  write_bytes(p, st_file(R"({"w":{"dtype":"F64","shape":[1048576,1048576,0],"data_offsets":[0,0]}})", ""));
  CHECK(load_safetensors(p).at("w").shape() == Shape{1048576, 1048576, 0});
  // Sizes whose product passes int64 overflowed the strides of the empty tensor (a
  // signed overflow that UBSan reports) instead of being refused.
  write_bytes(
      p, st_file(R"({"w":{"dtype":"F32","shape":[0,4294967296,4294967296,4294967296],"data_offsets":[0,0]}})", ""));
  CHECK_THROWS_WITH(load_safetensors(p), Contains(p) && Contains("tensor 'w'") && Contains("passes 2^60"));
  write_bytes(p, st_file(R"({"w":{"dtype":"U8","shape":[1099511627776,1099511627776,0],"data_offsets":[0,0]}})", ""));
  CHECK_THROWS_WITH(read_safetensors_header(p), Contains("passes 2^60"));
}

TEST_CASE("safetensors: invalid tensor lists are refused before anything is written", "[io]") {
  TempDir dir;
  const std::string p = dir.file("m.safetensors");
  NamedTensors dup{{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({1})}};
  CHECK_THROWS_WITH(save_safetensors(p, dup), Contains("duplicate") && Contains("'a'"));
  NamedTensors undef{{"a", Tensor::zeros({1})}, {"b", Tensor()}};
  CHECK_THROWS_WITH(save_safetensors(p, undef), Contains("'b'") && Contains("undefined"));
  NamedTensors reserved{{"__metadata__", Tensor::zeros({1})}};
  CHECK_THROWS_WITH(save_safetensors(p, reserved), Contains("invalid tensor name"));
  CHECK(dir.list().empty());
}

TEST_CASE("atomic writes: a failed save leaves the previous file intact", "[io]") {
  TempDir dir;
  const std::string p = dir.file("last.safetensors");
  NamedTensors v1{{"w", Tensor::full({4}, 1.0)}};
  save_safetensors(p, v1, {{"step", "1"}});
  const std::string before = read_bytes(p);
  auto previous_intact = [&] {
    CHECK(read_bytes(p) == before);
    SafetensorsData d = load_safetensors(p);
    CHECK(d.metadata.at("step") == "1");
    CHECK(dir.list() == std::vector<std::string>{"last.safetensors"});  // no temporary left behind
  };

  SECTION("the file system refuses the data mid-write") {
    // A file-size limit makes write() fail with EFBIG part way through the tensor data.
    // The limit also applies to a test log redirected to a file, so nothing may be
    // printed (no assertion) until it is lifted.
    struct rlimit old;
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    std::cout.flush();
    std::cerr.flush();
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old;
    small.rlim_cur = 4096;
    const int set_rc = ::setrlimit(RLIMIT_FSIZE, &small);
    NamedTensors big{{"w", Tensor::full({1 << 16}, 2.0)}};
    bool threw = false;
    std::string msg;
    try {
      save_safetensors(p, big, {{"step", "2"}});
    } catch (const Error& e) {
      threw = true;
      msg = e.what();
    }
    const int restore_rc = ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    REQUIRE(set_rc == 0);
    REQUIRE(restore_rc == 0);
    CHECK(threw);
    CHECK_THAT(msg, Contains(p) && Contains("previous file is unchanged"));
    previous_intact();
  }
  SECTION("an exception while streaming") {
    CHECK_THROWS_WITH(write_file_atomic(p,
                                        [](AtomicFileWriter& w) {
                                          w.write(std::string(1000, 'x'));
                                          throw std::runtime_error("producer failed");
                                        }),
                      Contains("producer failed"));
    previous_intact();
  }
  SECTION("the rename fails") {
    // A non-empty folder where the file should go cannot be replaced by a file.
    const std::string target = dir.file("occupied");
    REQUIRE(::mkdir(target.c_str(), 0755) == 0);
    write_bytes(target + "/keep", "k");
    CHECK_THROWS_WITH(save_safetensors(target, v1), Contains(target) && Contains("renaming"));
    CHECK(read_bytes(target + "/keep") == "k");
    ::unlink((target + "/keep").c_str());
    ::rmdir(target.c_str());
    previous_intact();
  }
  SECTION("the folder does not exist") {
    CHECK_THROWS_WITH(write_file_atomic(dir.file("no/such/file"), std::string("abc")), Contains("no/such/file"));
    previous_intact();
  }
  SECTION("a successful save replaces the file") {
    save_safetensors(p, {{"w", Tensor::full({2}, 3.0)}}, {{"step", "2"}});
    CHECK(load_safetensors(p).metadata.at("step") == "2");
    CHECK(load_safetensors(p).at("w").to_vector() == std::vector<double>{3, 3});
    write_file_atomic(p, std::string("plain"));
    CHECK(read_file(p) == "plain");
    CHECK(dir.list().size() == 1);
  }
}
