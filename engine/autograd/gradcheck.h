#pragma once
// Gradient checking: analytic gradients (autograd) against central finite
// differences in f64. For a function f of several inputs with any output shape, the
// scalar L = sum(f(x) * R) with a fixed random R is differentiated both ways; each
// input element passes when |numeric - analytic| <= tol * max(1, |numeric|, |analytic|).
// Elements within kink_window of a kink (ReLU at 0, clamp bounds) are skipped.
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd/variable.h"

namespace engine {

struct GradCheckOptions {
  double eps = 1e-6;
  double tol = 1e-6;
  std::vector<double> kinks;  // input values where f is not differentiable
  double kink_window = 0.0;   // skip |x - kink| < kink_window
  uint64_t seed = 20261123;
  std::vector<bool> check_input;  // empty = all inputs; false = do not differentiate that input
};

struct GradCheckResult {
  bool ok = true;
  int64_t checked = 0, skipped = 0;
  double max_error = 0;          // max |num - ana| / max(1, |num|, |ana|)
  std::string message;           // the worst element, or the first failure
  std::vector<OpKind> ops_seen;  // ops recorded in the analytic graph
  bool saw(OpKind op) const;
};

using GradCheckFn = std::function<Variable(const std::vector<Variable>&)>;

// Inputs must be f64 CPU tensors; they may be non-contiguous views.
GradCheckResult gradcheck(const GradCheckFn& f, const std::vector<Tensor>& inputs,
                          const GradCheckOptions& options = {});

}  // namespace engine
