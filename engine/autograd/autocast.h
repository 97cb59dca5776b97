#pragma once
// Autocast: mixed-precision forward passes without touching model code. Inside an
// AutocastGuard(bf16 or f16) the differentiable functions of engine::ag pick the dtype
// they compute in by their policy:
//   LowPrecision (conv2d, linear, matmul, attention, moe_grouped_matmul): f32 inputs are cast to
//     the autocast dtype and the output is low precision (GEMMs and convolutions
//     still accumulate in f32 inside the kernels);
//   Float32 (batchnorm, layer_norm, softmax, masked_softmax, log_softmax, cross_entropy, sum,
//     mean, var, exp, log):
//     bf16/f16 inputs are cast to f32, for range and precision;
//   Promote (binary elementwise ops, where): mixed floating inputs go to the widest;
//   every other op runs in its input dtype.
// Casts are ag::cast, so gradients flow back in each input's own dtype: parameters
// stay f32 and so do their gradients. f64 inputs are never lowered. The state is
// thread-local, off by default, and guards nest (the innermost wins).
#include <array>

#include "engine/autograd/variable.h"

namespace engine {

bool autocast_enabled();
DType autocast_dtype();  // meaningful only when enabled

class AutocastGuard {
 public:
  // bf16 or f16 turns autocast on for the scope; f32 turns it off (an f32 region
  // inside an autocast one).
  explicit AutocastGuard(DType dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool prev_enabled_;
  DType prev_dtype_;
};

enum class AutocastPolicy { LowPrecision, Float32, Promote };

// The dtype an op of this policy computes in for inputs of these dtypes under the
// current autocast state; `fallback` (the first input's dtype) when none applies.
DType autocast_target(AutocastPolicy policy, const DType* dtypes, size_t n, DType fallback);
// The variable as the op should see it: cast to `dtype` when it is a defined
// floating variable of another dtype; unchanged otherwise.
Variable autocast_to(const Variable& x, DType dtype);

// The inputs of an op of this policy, cast as autocast asks (unchanged when it is off).
template <class... V>
std::array<Variable, sizeof...(V)> autocast(AutocastPolicy policy, const V&... xs) {
  std::array<Variable, sizeof...(V)> v{xs...};
  if (!autocast_enabled()) return v;
  std::array<DType, sizeof...(V)> dts{};
  size_t n = 0;
  for (const Variable& x : v)
    if (x.defined() && is_floating(x.dtype())) dts[n++] = x.dtype();
  if (n == 0) return v;
  DType target = autocast_target(policy, dts.data(), n, dts[0]);
  for (Variable& x : v) x = autocast_to(x, target);
  return v;
}

}  // namespace engine
