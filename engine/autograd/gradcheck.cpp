#include "engine/autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <unordered_set>

#include "engine/ops/functional.h"

namespace engine {

bool GradCheckResult::saw(OpKind op) const { return std::find(ops_seen.begin(), ops_seen.end(), op) != ops_seen.end(); }

namespace {

// Storage offset (in elements, from the tensor's data_ptr) of logical element i.
int64_t element_offset(const Tensor& t, int64_t i) {
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    int64_t s = t.shape()[size_t(d)];
    off += (i % s) * t.strides()[size_t(d)];
    i /= s;
  }
  return off;
}

void collect_ops(const Variable& root, std::vector<OpKind>* ops) {
  std::unordered_set<const void*> seen;
  std::vector<Variable> stack{root};
  while (!stack.empty()) {
    Variable v = stack.back();
    stack.pop_back();
    if (!seen.insert(v.id()).second || v.is_leaf()) continue;
    ops->push_back(v.grad_fn()->op);
    for (const Variable& in : v.grad_fn()->inputs) stack.push_back(in);
  }
}

double projected(const GradCheckFn& f, const std::vector<Variable>& vars, const Tensor& r) {
  NoGradGuard ng;
  Variable out = f(vars);
  return ops::sum(ops::mul(out.data(), r)).item();
}

}  // namespace

GradCheckResult gradcheck(const GradCheckFn& f, const std::vector<Tensor>& inputs, const GradCheckOptions& opt) {
  GradCheckResult res;
  std::vector<Variable> vars;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    ENGINE_CHECK(t.dtype() == DType::f64 && t.device().is_cpu(),
                 "gradcheck: input " << i << " must be an f64 cpu tensor, got " << t.header());
    bool want = opt.check_input.empty() || opt.check_input[i];
    vars.emplace_back(t, want);
  }
  Variable out = f(vars);
  ENGINE_CHECK(out.dtype() == DType::f64, "gradcheck: output must be f64, got " << out.data().header());
  Tensor r = ops::randn(out.shape(), opt.seed, 0, DType::f64);
  collect_ops(out, &res.ops_seen);
  ENGINE_CHECK(out.requires_grad(), "gradcheck: the output does not depend on any checked input");
  out.backward(r);

  std::ostringstream worst;
  for (size_t i = 0; i < vars.size(); ++i) {
    if (!vars[i].requires_grad()) continue;
    const Tensor& x = inputs[i];
    Tensor ana = vars[i].has_grad() ? vars[i].grad().contiguous() : Tensor::zeros(x.shape(), DType::f64);
    const double* ga = ana.data<double>();
    double* base = x.data<double>();
    for (int64_t j = 0; j < x.numel(); ++j) {
      double* p = base + element_offset(x, j);
      double x0 = *p;
      bool near_kink = false;
      for (double k : opt.kinks) near_kink = near_kink || std::abs(x0 - k) < opt.kink_window;
      if (near_kink) {
        ++res.skipped;
        continue;
      }
      *p = x0 + opt.eps;
      double lp = projected(f, vars, r);
      *p = x0 - opt.eps;
      double lm = projected(f, vars, r);
      *p = x0;
      double num = (lp - lm) / (2 * opt.eps);
      double a = ga[j];
      double scale = std::max({1.0, std::abs(num), std::abs(a)});
      double err = std::abs(num - a) / scale;
      ++res.checked;
      bool bad = !(err <= opt.tol);  // NaN fails
      if (err > res.max_error || bad) {
        if (res.ok) {
          worst.str("");
          worst << "input " << i << " element " << j << ": numeric " << num << ", analytic " << a << ", relative error "
                << err << " (tol " << opt.tol << ")";
        }
        if (!std::isnan(err)) res.max_error = std::max(res.max_error, err);
      }
      if (bad) res.ok = false;
    }
  }
  res.message = worst.str();
  return res;
}

}  // namespace engine
