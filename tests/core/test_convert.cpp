// The dense f32 <-> bf16 conversions (kernels/cpu/convert.h) against the scalar
// float_to_bf16 / bf16_to_float of base/dtype.h, bit for bit: ties, NaN, infinities,
// denormals, lengths across the thread split; and copies between two channels-last
// tensors of different dtypes, which take the linear path.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/convert.h"
#include "test_util.h"

using namespace engine;

TEST_CASE("f32 -> bf16 -> f32 conversions equal the scalar ones bit for bit", "[core][convert]") {
  std::mt19937 gen(3);
  std::vector<float> src;
  for (float v : {0.f, -0.f, 1.f, -1.f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min(), 1e-40f, 3.4e38f})
    src.push_back(v);
  for (uint32_t u : {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7f7fffffu, 0xff800001u, 0x7fc00001u})  // ties, NaNs
  {
    float f;
    std::memcpy(&f, &u, 4);
    src.push_back(f);
  }
  std::uniform_int_distribution<uint32_t> bits;
  while (src.size() < 200003) {  // above the threaded size, not a multiple of the chunk
    uint32_t u = bits(gen);
    float f;
    std::memcpy(&f, &u, 4);
    src.push_back(f);
  }
  const int64_t n = int64_t(src.size());
  std::vector<uint16_t> got(src.size());
  kernels::f32_to_bf16_cpu(got.data(), src.data(), n);
  size_t bad = 0;
  for (size_t i = 0; i < src.size(); ++i) bad += got[i] != float_to_bf16(src[i]).bits;
  CHECK(bad == 0);
  std::vector<float> back(src.size());
  kernels::bf16_to_f32_cpu(back.data(), got.data(), n);
  bad = 0;
  for (size_t i = 0; i < src.size(); ++i) {
    const float want = bf16_to_float(bf16_t{got[i]});
    bad += std::memcmp(&back[i], &want, 4) != 0;
  }
  CHECK(bad == 0);
}

TEST_CASE("casts between channels-last tensors keep every element", "[core][convert]") {
  const MemoryFormat cl = MemoryFormat::ChannelsLast;
  Tensor x = testing::randn64({3, 5, 7, 4}, 17).to(DType::f32).contiguous(cl);
  Tensor b = x.to(DType::bf16);
  CHECK(b.suggest_memory_format() == cl);
  Tensor want = x.contiguous().to(DType::bf16);  // the strided path, through a row-major copy
  CHECK(b.to(DType::f64).to_vector() == want.to(DType::f64).to_vector());
  Tensor back = b.to(DType::f32);
  CHECK(back.suggest_memory_format() == cl);
  CHECK(back.to(DType::f64).to_vector() == want.to(DType::f32).to(DType::f64).to_vector());
}
