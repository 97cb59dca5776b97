// Functional optimizer updates.
#include "engine/ops/attrs.h"
#include "engine/ops/dispatch.h"
#include "engine/ops/functional.h"

namespace engine::ops {
namespace {

void check_pair(const char* op, const Tensor& p, const Tensor& t, const char* what) {
  ENGINE_CHECK(t.defined() && t.shape() == p.shape() && t.dtype() == p.dtype() && t.is_contiguous(),
               op << ": " << what << " " << (t.defined() ? t.header() : std::string("undefined"))
                  << " must match the parameter " << p.header() << " and be contiguous");
}

}  // namespace

void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& buf, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool first_step) {
  ENGINE_CHECK(param.is_contiguous(), "sgd_step: parameter must be contiguous");
  check_pair("sgd_step", param, grad, "gradient");
  if (momentum != 0) check_pair("sgd_step", param, buf, "momentum buffer");
  if (param.numel() == 0) return;
  SgdAttrs a{lr, momentum, dampening, weight_decay, nesterov, first_step};
  dispatch(OpCall{OpKind::SGD_STEP, {grad}, {param, momentum != 0 ? buf : Tensor()}, &a});
}

void adamw_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
                double beta2, double eps, double weight_decay, int64_t step) {
  ENGINE_CHECK(param.is_contiguous(), "adamw_step: parameter must be contiguous");
  ENGINE_CHECK(step >= 1, "adamw_step: step counts from 1, got " << step);
  check_pair("adamw_step", param, grad, "gradient");
  check_pair("adamw_step", param, m, "first moment");
  check_pair("adamw_step", param, v, "second moment");
  if (param.numel() == 0) return;
  AdamWAttrs a{lr, beta1, beta2, eps, weight_decay, step};
  dispatch(OpCall{OpKind::ADAMW_STEP, {grad}, {param, m, v}, &a});
}

}  // namespace engine::ops
