// Functional optimizer updates.
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
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

namespace {

// The group shares the first parameter's device and dtype; every tensor is checked
// against its parameter.
void check_group(const char* op, const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                 const std::vector<const std::vector<Tensor>*>& states, const std::vector<const char*>& state_names,
                 size_t n_decay) {
  ENGINE_CHECK(grads.size() == params.size(),
               op << ": " << params.size() << " parameters but " << grads.size() << " gradients");
  ENGINE_CHECK(n_decay == params.size(),
               op << ": " << params.size() << " parameters but " << n_decay << " weight decays");
  for (size_t s = 0; s < states.size(); ++s)
    ENGINE_CHECK(states[s]->size() == params.size(),
                 op << ": " << params.size() << " parameters but " << states[s]->size() << " " << state_names[s]);
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    ENGINE_CHECK(p.defined() && p.is_contiguous(), op << ": parameter " << i << " must be defined and contiguous");
    ENGINE_CHECK(p.device() == params[0].device() && p.dtype() == params[0].dtype(),
                 op << ": parameter " << i << " " << p.header() << " differs in device or dtype from parameter 0 "
                    << params[0].header() << "; a group shares both");
    check_pair(op, p, grads[i], "gradient");
    for (size_t s = 0; s < states.size(); ++s) check_pair(op, p, (*states[s])[i], state_names[s]);
  }
}

}  // namespace

void sgd_step_multi(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& momentum_bufs, double lr, double momentum, double dampening,
                    const std::vector<double>& weight_decay, bool nesterov, const std::vector<bool>& first_step) {
  const char* op = "sgd_step_multi";
  std::vector<const std::vector<Tensor>*> states;
  if (momentum != 0) states.push_back(&momentum_bufs);
  check_group(op, params, grads, states, {"momentum buffers"}, weight_decay.size());
  ENGINE_CHECK(first_step.size() == params.size(),
               op << ": " << params.size() << " parameters but " << first_step.size() << " first-step flags");
  if (params.empty()) return;
  SgdMultiAttrs a;
  a.h = kernels::SgdHyper{lr, momentum, dampening, nesterov};
  a.weight_decay = weight_decay;
  a.first_step.assign(first_step.begin(), first_step.end());
  OpCall c{OpKind::SGD_STEP_MULTI, grads, params, &a};
  if (momentum != 0) c.out.insert(c.out.end(), momentum_bufs.begin(), momentum_bufs.end());
  dispatch(c);
}

void adamw_step_multi(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                      const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs, double lr,
                      double beta1, double beta2, double eps, const std::vector<double>& weight_decay, int64_t step) {
  const char* op = "adamw_step_multi";
  ENGINE_CHECK(step >= 1, op << ": step counts from 1, got " << step);
  check_group(op, params, grads, {&exp_avgs, &exp_avg_sqs}, {"first moments", "second moments"}, weight_decay.size());
  if (params.empty()) return;
  AdamWMultiAttrs a;
  a.h = kernels::AdamWHyper{lr, beta1, beta2, eps, step};
  a.weight_decay = weight_decay;
  OpCall c{OpKind::ADAMW_STEP_MULTI, grads, params, &a};
  c.out.insert(c.out.end(), exp_avgs.begin(), exp_avgs.end());
  c.out.insert(c.out.end(), exp_avg_sqs.begin(), exp_avg_sqs.end());
  dispatch(c);
}

Tensor sum_squares_multi(const std::vector<Tensor>& xs) {
  ENGINE_CHECK(!xs.empty(), "sum_squares_multi: needs at least one tensor");
  std::vector<Tensor> in;
  for (size_t i = 0; i < xs.size(); ++i) {
    ENGINE_CHECK(xs[i].defined() && xs[i].dtype() == xs[0].dtype() && xs[i].device() == xs[0].device() &&
                     is_floating(xs[i].dtype()),
                 "sum_squares_multi: tensor " << i << " " << (xs[i].defined() ? xs[i].header() : "undefined")
                                              << " must be floating with the device and dtype of tensor 0 "
                                              << xs[0].header());
    in.push_back(xs[i].contiguous());
  }
  Tensor out = Tensor::empty({}, DType::f64, xs[0].device());
  dispatch(OpCall{OpKind::SUM_SQUARES_MULTI, in, {out}, nullptr});
  return out;
}

}  // namespace engine::ops
