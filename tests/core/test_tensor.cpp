// Tensor core: shapes, views, dtypes, devices, printing, errors, RNG.
#include <cmath>

#include "base/rng.h"
#include "engine/core/dispatch.h"
#include "engine/core/generator.h"
#include "test_util.h"

using namespace engine;

TEST_CASE("tensor creation, shape and contiguity", "[tensor]") {
  Tensor t = Tensor::zeros({2, 3, 4});
  CHECK(t.dim() == 3);
  CHECK(t.numel() == 24);
  CHECK(t.strides() == Strides{12, 4, 1});
  CHECK(t.is_contiguous());
  CHECK(t.size(-1) == 4);
  CHECK(t.dtype() == DType::f32);
  CHECK(t.device() == Device::cpu());
  for (double v : t.to_vector()) CHECK(v == 0.0);
  CHECK(Tensor::full({2}, 3.5, DType::f64).to_vector() == std::vector<double>{3.5, 3.5});
  CHECK(Tensor::arange(4).to_vector() == std::vector<double>{0, 1, 2, 3});
}

TEST_CASE("views share storage and index correctly", "[tensor]") {
  Tensor a = Tensor::arange(24, DType::f64).reshape({2, 3, 4});
  Tensor t = a.transpose(0, 2);  // [4, 3, 2]
  CHECK(t.shape() == Shape{4, 3, 2});
  CHECK_FALSE(t.is_contiguous());
  CHECK(t.shares_storage(a));
  // t[i][j][k] = a[k][j][i] = k*12 + j*4 + i
  std::vector<double> v = t.to_vector();
  CHECK(v[size_t(1 * 6 + 2 * 2 + 1)] == 1 * 12 + 2 * 4 + 1);
  Tensor c = t.contiguous();
  CHECK(c.is_contiguous());
  CHECK_FALSE(c.shares_storage(a));
  CHECK(c.to_vector() == v);

  Tensor s = a.slice(2, 1, 4, 2);  // columns 1 and 3
  CHECK(s.shape() == Shape{2, 3, 2});
  CHECK(s.to_vector()[0] == 1);
  CHECK(s.to_vector()[1] == 3);
  Tensor p = a.permute({1, 2, 0});
  CHECK(p.shape() == Shape{3, 4, 2});
  CHECK(p.to_vector()[1] == 12);
  Tensor e = Tensor::arange(3, DType::f64).reshape({3, 1}).expand({3, 4});
  CHECK(e.strides()[1] == 0);
  CHECK(e.to_vector()[5] == 1);
  CHECK(a.select(1, 2).shape() == Shape{2, 4});
  CHECK(a.select(1, 2).to_vector()[0] == 8);
  CHECK(a.unsqueeze(1).shape() == Shape{2, 1, 3, 4});
  CHECK(a.reshape({-1, 4}).shape() == Shape{6, 4});
  CHECK(t.reshape({24}).to_vector() == v);  // reshape copies a non-contiguous view
  CHECK_THROWS_AS(t.view({24}), Error);
}

TEST_CASE("writes through a view reach the base tensor", "[tensor]") {
  Tensor a = Tensor::zeros({3, 4}, DType::f64);
  a.slice(1, 1, 3).fill_(2.0);
  a.select(0, 2).copy_from(Tensor::full({4}, 5.0, DType::f64));
  std::vector<double> v = a.to_vector();
  CHECK(v == std::vector<double>{0, 2, 2, 0, 0, 2, 2, 0, 5, 5, 5, 5});
}

TEST_CASE("dtype conversions round trip", "[tensor]") {
  std::vector<double> vals{0.0, 1.0, -2.5, 3.140625, 65504.0, 1e-3};
  Tensor f = Tensor::from_vector(vals, {6}, DType::f64);
  for (DType d : {DType::f32, DType::bf16, DType::f16}) {
    std::vector<double> back = f.to(d).to(DType::f64).to_vector();
    for (size_t i = 0; i < vals.size(); ++i) {
      double rel = d == DType::bf16 ? 1.0 / 128 : (d == DType::f16 ? 1.0 / 1024 : 1e-7);
      CHECK(std::abs(back[i] - vals[i]) <= rel * std::abs(vals[i]) + 1e-7);
    }
  }
  CHECK(Tensor::from_vector({1.9, -1.9, 300}, {3}, DType::f64).to(DType::i32).to_vector() ==
        std::vector<double>{1, -1, 300});
  CHECK(Tensor::from_vector({7, 255}, {2}, DType::f64).to(DType::u8).to_vector() == std::vector<double>{7, 255});
  // bf16 rounds to nearest even; f16 overflows to inf.
  CHECK(bf16_to_float(float_to_bf16(1.0f + 1.0f / 256)) == 1.0f);
  CHECK(std::isinf(f16_to_float(float_to_f16(70000.0f))));
  CHECK(f16_to_float(float_to_f16(5.96046448e-08f)) == 5.96046448e-08f);  // smallest f16 subnormal
  CHECK(dtype_from_name("bfloat16") == DType::bf16);
  CHECK_THROWS_WITH(dtype_from_name("f8"), Catch::Contains("unknown dtype 'f8'"));
}

TEST_CASE("devices parse and name themselves", "[tensor]") {
  CHECK(Device::parse("cpu") == Device::cpu());
  CHECK(Device::parse("cuda:1") == Device::cuda(1));
  CHECK(Device::cuda(2).str() == "cuda:2");
  CHECK_THROWS_WITH(Device::parse("gpu"), Catch::Contains("unknown device 'gpu'"));
}

TEST_CASE("printing shows shape, dtype and device", "[tensor]") {
  std::string s = Tensor::ones({2, 2}, DType::f64).str();
  CHECK(s.find("shape=[2, 2]") != std::string::npos);
  CHECK(s.find("dtype=f64") != std::string::npos);
  CHECK(s.find("device=cpu") != std::string::npos);
  CHECK(s.find("1, 1, 1, 1") != std::string::npos);
}

TEST_CASE("errors carry file:line and both shapes", "[tensor]") {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 5});
  try {
    ops::add(a, b);
    FAIL("expected an error");
  } catch (const Error& e) {
    std::string m = e.what();
    CHECK(m.find("[2, 3]") != std::string::npos);
    CHECK(m.find("[4, 5]") != std::string::npos);
    CHECK(m.find("add") != std::string::npos);
    CHECK(m.find(".cpp:") != std::string::npos);
  }
  CHECK_THROWS_WITH(ops::add(a, Tensor::zeros({2, 3}, DType::f64)), Catch::Contains("dtypes differ"));
}

TEST_CASE("op table: names unique, views and graph nodes have no kernels, every other op has a cpu kernel",
          "[tensor]") {
  std::set<std::string> names;
  for (int i = 0; i < kNumOps; ++i) {
    OpKind op = OpKind(i);
    CHECK(names.insert(op_name(op)).second);
    INFO(op_name(op));
    CHECK(has_kernel(op, DeviceType::CPU) == op_needs_kernel(op));
  }
}

TEST_CASE("supports() answers from the op table, and what it refuses the kernel refuses", "[tensor]") {
  for (int i = 0; i < kNumOps; ++i) {
    OpKind op = OpKind(i);
    INFO(op_name(op));
    for (DType d : {DType::f32, DType::f64, DType::bf16, DType::f16})
      CHECK(supports(op, DeviceType::CPU, d) == op_needs_kernel(op));
  }
  CHECK(supports(OpKind::COPY, DeviceType::CPU, DType::i64));
  CHECK(supports(OpKind::CONCAT, DeviceType::CPU, DType::u8));
  CHECK_FALSE(supports(OpKind::ADD, DeviceType::CPU, DType::i64));
  Tensor a = Tensor::from_vector({1, 2, 3}, {3}, DType::i64);
  CHECK(a.clone().to_vector() == a.to_vector());
  CHECK_THROWS_WITH(ops::add(a, a), Catch::Contains("dtype i64 has no cpu kernel"));
}

TEST_CASE("philox is counter-based and deterministic", "[rng]") {
  Tensor a = ops::rand_uniform({1000}, 42, 0, DType::f64);
  Tensor b = ops::rand_uniform({1000}, 42, 0, DType::f64);
  Tensor c = ops::rand_uniform({1000}, 43, 0, DType::f64);
  Tensor d = ops::rand_uniform({10}, 42, 990, DType::f64);  // offset picks up the same stream
  CHECK(a.to_vector() == b.to_vector());
  CHECK(a.to_vector() != c.to_vector());
  std::vector<double> av = a.to_vector(), dv = d.to_vector();
  for (int i = 0; i < 10; ++i) CHECK(av[size_t(990 + i)] == dv[size_t(i)]);
  double mean = 0;
  for (double v : av) {
    CHECK(v >= 0.0);
    CHECK(v < 1.0);
    mean += v / 1000;
  }
  CHECK(std::abs(mean - 0.5) < 0.05);
  std::vector<double> n = ops::randn({20000}, 7, 0, DType::f64).to_vector();
  double m = 0, s2 = 0;
  for (double v : n) m += v / double(n.size());
  for (double v : n) s2 += (v - m) * (v - m) / double(n.size());
  CHECK(std::abs(m) < 0.03);
  CHECK(std::abs(s2 - 1.0) < 0.05);
  // A known answer pins the generator: Philox-4x32-10 of counter 0, key 0.
  Philox4 r = philox4x32_10(0, 0);
  CHECK(r.v[0] == 0x6627e8d5u);
  CHECK(r.v[1] == 0xe169c58du);
  CHECK(r.v[2] == 0xbc57ac4cu);
  CHECK(r.v[3] == 0x9b00dbd8u);
}

TEST_CASE("an empty tensor with a zero-size middle axis copies like any other", "[tensor]") {
  // Its contiguous strides are [0, 5, 1]: empty_strided must accept them (a copy to a
  // device did not).
  Tensor x = Tensor::zeros({3, 0, 5}, DType::f64);
  CHECK(x.strides() == Strides{0, 5, 1});
  CHECK(x.is_non_overlapping_and_dense());
  Tensor y = Tensor::empty_strided({3, 0, 5}, x.strides(), DType::f32, Device::cpu());
  CHECK(y.numel() == 0);
  CHECK(x.to(DType::f32).shape() == Shape{3, 0, 5});
  CHECK(x.to(Device::cpu()).shape() == Shape{3, 0, 5});
}
