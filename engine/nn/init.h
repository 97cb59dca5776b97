#pragma once
// Parameter initialisers drawing from the default generator (engine/core/generator.h),
// with PyTorch's formulas.
#include "engine/core/tensor.h"

namespace engine::nn::init {

// fan_in / fan_out of a weight [out, in, kh, kw] or [out, in].
int64_t fan_in(const Shape& w);
int64_t fan_out(const Shape& w);
Tensor uniform(const Shape& shape, double lo, double hi, DType dtype = DType::f32);
Tensor normal(const Shape& shape, double mean, double stddev, DType dtype = DType::f32);
// PyTorch's default for Linear and Conv weights: kaiming_uniform(a = sqrt(5)),
// i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the same bound for their biases.
Tensor default_weight(const Shape& w, DType dtype = DType::f32);
Tensor default_bias(int64_t n, int64_t fan_in, DType dtype = DType::f32);
// kaiming_normal(mode = fan_out, nonlinearity = relu): N(0, sqrt(2 / fan_out)), as ResNet uses.
Tensor kaiming_normal_fan_out(const Shape& w, DType dtype = DType::f32);

}  // namespace engine::nn::init
