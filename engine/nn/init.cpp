#include "engine/nn/init.h"

#include <cmath>

#include "engine/core/generator.h"
#include "engine/ops/functional.h"

namespace engine::nn::init {

int64_t fan_in(const Shape& w) {
  ENGINE_CHECK(w.size() >= 2, "fan_in: weight shape " << shape_str(w) << " needs at least 2 dims");
  int64_t r = 1;
  for (size_t i = 2; i < w.size(); ++i) r *= w[i];
  return w[1] * r;
}

int64_t fan_out(const Shape& w) {
  ENGINE_CHECK(w.size() >= 2, "fan_out: weight shape " << shape_str(w) << " needs at least 2 dims");
  int64_t r = 1;
  for (size_t i = 2; i < w.size(); ++i) r *= w[i];
  return w[0] * r;
}

Tensor uniform(const Shape& shape, double lo, double hi, DType dtype) {
  Generator& g = default_generator();
  uint64_t off = g.take(uint64_t(shape_numel(shape)));
  return ops::rand_uniform(shape, g.seed(), off, dtype, Device::cpu(), lo, hi);
}

Tensor normal(const Shape& shape, double mean, double stddev, DType dtype) {
  Generator& g = default_generator();
  uint64_t off = g.take(2 * uint64_t(shape_numel(shape)));  // Box-Muller uses two words per value
  return ops::randn(shape, g.seed(), off / 2, dtype, Device::cpu(), mean, stddev);
}

Tensor default_weight(const Shape& w, DType dtype) {
  double b = 1.0 / std::sqrt(double(fan_in(w)));
  return uniform(w, -b, b, dtype);
}

Tensor default_bias(int64_t n, int64_t fin, DType dtype) {
  double b = 1.0 / std::sqrt(double(fin));
  return uniform({n}, -b, b, dtype);
}

Tensor kaiming_normal_fan_out(const Shape& w, DType dtype) {
  return normal(w, 0.0, std::sqrt(2.0 / double(fan_out(w))), dtype);
}

}  // namespace engine::nn::init
