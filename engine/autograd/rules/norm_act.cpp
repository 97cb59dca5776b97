// Backward rule of batch normalisation with a fused residual-add and relu epilogue:
// one backward op returns the gradients of x, gamma, beta and the residual.
#include "engine/autograd/autocast.h"
#include "engine/autograd/functions.h"

namespace engine::ag {
namespace {
Tensor data_or_undefined(const Variable& v) { return v.defined() ? v.data() : Tensor(); }
}  // namespace

Variable batchnorm2d_act(const Variable& x_in, const Variable& residual_in, const Variable& gamma_in,
                         const Variable& beta_in, const Tensor& running_mean, const Tensor& running_var, bool relu,
                         bool training, double momentum, double eps) {
  // Under autocast the activations (x and the residual) are read and written in the
  // autocast dtype, as the convolutions around the op produce them, while gamma, beta and
  // the running statistics stay f32 and the kernels accumulate in f32: lifting a residual
  // network's activations to f32 at every normalisation would double their traffic.
  Variable x = x_in, residual = residual_in, gamma = gamma_in, beta = beta_in;
  if (autocast_enabled() && x_in.dtype() != DType::f64) {
    x = autocast_to(x_in, autocast_dtype());
    if (residual_in.defined()) residual = autocast_to(residual_in, autocast_dtype());
  }
  ops::BatchNormOutput o =
      ops::batchnorm2d_act(x.data(), data_or_undefined(residual), data_or_undefined(gamma), data_or_undefined(beta),
                           running_mean, running_var, relu, training, momentum, eps);
  Tensor mean = o.save_mean, invstd = o.save_invstd;
  // The output is kept for the relu mask only.
  Tensor y = relu ? o.y : Tensor();
  return Variable::make(o.y, OpKind::BATCHNORM2D_ACT, {x, gamma, beta, residual},
                        [mean, invstd, y, relu, training](std::vector<Variable>& v, const Tensor& g) {
                          bool want_res = v[3].defined() && v[3].requires_grad();
                          ops::BatchNormActGrads gr = ops::batchnorm2d_act_bwd(
                              g, y, v[0].data(), data_or_undefined(v[1]), mean, invstd, relu, training, want_res);
                          if (v[0].requires_grad()) v[0].add_grad(gr.gx);
                          if (v[1].defined() && v[1].requires_grad()) v[1].add_grad(gr.ggamma);
                          if (v[2].defined() && v[2].requires_grad()) v[2].add_grad(gr.gbeta);
                          if (want_res) v[3].add_grad(gr.gresidual);
                        });
}

}  // namespace engine::ag
