#pragma once
// Scalar conversions between the storage types through double (host code of every
// device: the CPU kernels, the CUDA fill).
#include <cstdint>

#include "base/dtype.h"

namespace engine::kernels {

template <class T>
inline double to_f64(T v) {
  return double(v);
}
template <>
inline double to_f64<bf16_t>(bf16_t v) {
  return double(bf16_to_float(v));
}
template <>
inline double to_f64<f16_t>(f16_t v) {
  return double(f16_to_float(v));
}

template <class T>
inline T from_f64(double v) {
  return T(v);
}
template <>
inline bf16_t from_f64<bf16_t>(double v) {
  return float_to_bf16(float(v));
}
template <>
inline f16_t from_f64<f16_t>(double v) {
  return float_to_f16(float(v));
}
template <>
inline float from_f64<float>(double v) {
  return float(v);
}

}  // namespace engine::kernels
