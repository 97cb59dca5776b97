// Functional ops: batch normalisation with a fused residual-add and relu epilogue.
// The op follows x's memory format: a channels-last x gives channels-last outputs and
// gradients, every other x runs as contiguous NCHW.

#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"
#include "engine/ops/norm_checks.h"

namespace engine::ops {
namespace {

const char* kFwd = "batchnorm2d_act";
const char* kBwd = "batchnorm2d_act_bwd";

using namespace norm_checks;

// A tensor of x's shape and dtype (residual, gradient, saved output).
void check_like_x(const Tensor& t, const Tensor& x, const char* what, const char* op) {
  ENGINE_CHECK(t.defined() && t.shape() == x.shape() && t.dtype() == x.dtype(),
               "op " << op << ": " << what << " " << (t.defined() ? t.header() : std::string("undefined"))
                     << " does not match the input " << x.header());
}

MemoryFormat format_of(const Tensor& x) {
  return x.suggest_memory_format() == MemoryFormat::ChannelsLast ? MemoryFormat::ChannelsLast
                                                                 : MemoryFormat::Contiguous;
}

Tensor dense_or_undefined(const Tensor& t, MemoryFormat f) { return t.defined() ? t.contiguous(f) : t; }

kernels::BatchNormActParams params(const Tensor& x, bool relu, bool training, double momentum, double eps) {
  kernels::BatchNormActParams p;
  p.channels_last = format_of(x) == MemoryFormat::ChannelsLast;
  p.N = x.size(0);
  p.C = x.size(1);
  p.HW = x.size(2) * x.size(3);
  p.momentum = momentum;
  p.eps = eps;
  p.training = training;
  p.relu = relu;
  return p;
}

}  // namespace

BatchNormOutput batchnorm2d_act(const Tensor& x, const Tensor& residual, const Tensor& gamma, const Tensor& beta,
                                const Tensor& running_mean, const Tensor& running_var, bool relu, bool training,
                                double momentum, double eps) {
  check_nchw(x, kFwd);
  ENGINE_CHECK(is_floating(x.dtype()), "op " << kFwd << ": expected a floating-point input, got " << x.header());
  if (residual.defined()) check_like_x(residual, x, "residual", kFwd);
  DType pd = channel_dtype(x, {&gamma, &beta, &running_mean, &running_var}, kFwd);
  check_channel_vector(gamma, x, pd, "gamma", kFwd, true);
  check_channel_vector(beta, x, pd, "beta", kFwd, true);
  check_channel_vector(running_mean, x, pd, "running_mean", kFwd, training);
  check_channel_vector(running_var, x, pd, "running_var", kFwd, training);
  ENGINE_CHECK(running_mean.defined() == running_var.defined(),
               "op batchnorm2d_act: running_mean and running_var must be given together");
  ENGINE_CHECK(eps >= 0, "op batchnorm2d_act: eps must be >= 0, got " << eps);
  BatchNormActAttrs a{params(x, relu, training, momentum, eps)};
  if (training)
    ENGINE_CHECK(a.p.N * a.p.HW > 1, "op batchnorm2d_act: training needs more than one value per channel, got input "
                                         << shape_str(x.shape()));
  MemoryFormat f = format_of(x);
  BatchNormOutput out;
  out.y = Tensor::empty(x.shape(), f, x.dtype(), x.device());
  out.save_mean = Tensor::empty({a.p.C}, pd, x.device());
  out.save_invstd = Tensor::empty({a.p.C}, pd, x.device());
  if (a.p.C == 0) return out;
  // The kernel updates the running statistics through raw pointers: strided views go
  // through a contiguous copy that is written back afterwards.
  Tensor rm = contiguous_or_undefined(running_mean), rv = contiguous_or_undefined(running_var);
  dispatch(OpCall{OpKind::BATCHNORM2D_ACT,
                  {x.contiguous(f), dense_or_undefined(residual, f), contiguous_or_undefined(gamma),
                   contiguous_or_undefined(beta), rm, rv},
                  {out.y, out.save_mean, out.save_invstd},
                  &a});
  if (training && rm.defined()) {
    if (!rm.shares_storage(running_mean)) copy_into(running_mean, rm);
    if (!rv.shares_storage(running_var)) copy_into(running_var, rv);
  }
  return out;
}

BatchNormActGrads batchnorm2d_act_bwd(const Tensor& gy, const Tensor& y, const Tensor& x, const Tensor& gamma,
                                      const Tensor& save_mean, const Tensor& save_invstd, bool relu, bool training,
                                      bool want_gresidual) {
  check_nchw(x, kBwd);
  check_like_x(gy, x, "gradient", kBwd);
  if (relu) check_like_x(y, x, "saved output", kBwd);
  DType pd = channel_dtype(x, {&gamma, &save_mean, &save_invstd}, kBwd);
  check_channel_vector(gamma, x, pd, "gamma", kBwd, true);
  check_channel_vector(save_mean, x, pd, "save_mean", kBwd, false);
  check_channel_vector(save_invstd, x, pd, "save_invstd", kBwd, false);
  BatchNormActAttrs a{params(x, relu, training, 0.0, 0.0)};
  MemoryFormat f = format_of(x);
  BatchNormActGrads g;
  g.gx = Tensor::empty(x.shape(), f, x.dtype(), x.device());
  g.ggamma = Tensor::empty({a.p.C}, pd, x.device());
  g.gbeta = Tensor::empty({a.p.C}, pd, x.device());
  if (want_gresidual) g.gresidual = Tensor::empty(x.shape(), f, x.dtype(), x.device());
  if (a.p.C == 0) return g;
  dispatch(OpCall{OpKind::BATCHNORM2D_ACT_BWD,
                  {gy.contiguous(f), relu ? y.contiguous(f) : Tensor(), x.contiguous(f), contiguous_or_undefined(gamma),
                   save_mean.contiguous(), save_invstd.contiguous()},
                  {g.gx, g.ggamma, g.gbeta, g.gresidual},
                  &a});
  return g;
}

}  // namespace engine::ops
