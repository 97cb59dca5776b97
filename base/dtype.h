#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace engine {

enum class DType : uint8_t { f32, f64, bf16, f16, i32, i64, u8 };
constexpr int kNumDTypes = 7;

size_t dtype_size(DType d);
const char* dtype_name(DType d);
DType dtype_from_name(const std::string& name);  // "f32", "float32", ...
bool is_floating(DType d);

// bf16 and f16 as storage types; arithmetic happens in f32.
struct bf16_t {
  uint16_t bits = 0;
};
struct f16_t {
  uint16_t bits = 0;
};

inline float bf16_to_float(bf16_t v) {
  uint32_t u = uint32_t(v.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline bf16_t float_to_bf16(float f) {  // round to nearest even; NaN stays NaN
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16_t{uint16_t((u >> 16) | 0x40)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16_t{uint16_t(u >> 16)};
}
float f16_to_float(f16_t v);
f16_t float_to_f16(float f);

template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::f32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::f64;
};
template <>
struct dtype_of<bf16_t> {
  static constexpr DType value = DType::bf16;
};
template <>
struct dtype_of<f16_t> {
  static constexpr DType value = DType::f16;
};
template <>
struct dtype_of<int32_t> {
  static constexpr DType value = DType::i32;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::i64;
};
template <>
struct dtype_of<uint8_t> {
  static constexpr DType value = DType::u8;
};

}  // namespace engine
