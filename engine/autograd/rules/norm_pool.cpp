// Backward rules of batch normalisation and pooling. Each forward keeps what its
// backward kernel needs (batch statistics, max-pool indices) in the closure.
#include "engine/autograd/autocast.h"
#include "engine/autograd/functions.h"

namespace engine::ag {
namespace {
Tensor data_or_undefined(const Variable& v) { return v.defined() ? v.data() : Tensor(); }
}  // namespace

Variable batchnorm2d(const Variable& x_in, const Variable& gamma_in, const Variable& beta_in,
                     const Tensor& running_mean, const Tensor& running_var, bool training, double momentum,
                     double eps) {
  auto [x, gamma, beta] = autocast(AutocastPolicy::Float32, x_in, gamma_in, beta_in);
  ops::BatchNormOutput o = ops::batchnorm2d(x.data(), data_or_undefined(gamma), data_or_undefined(beta), running_mean,
                                            running_var, training, momentum, eps);
  Tensor mean = o.save_mean, invstd = o.save_invstd;
  return Variable::make(
      o.y, OpKind::BATCHNORM2D, {x, gamma, beta}, [mean, invstd, training](std::vector<Variable>& v, const Tensor& g) {
        ops::BatchNormGrads gr = ops::batchnorm2d_bwd(g, v[0].data(), data_or_undefined(v[1]), mean, invstd, training);
        if (v[0].requires_grad()) v[0].add_grad(gr.gx);
        if (v[1].requires_grad()) v[1].add_grad(gr.ggamma);
        if (v[2].requires_grad()) v[2].add_grad(gr.gbeta);
      });
}

Variable maxpool2d(const Variable& x, const ops::Pool2dOptions& o) {
  ops::MaxPoolOutput r = ops::maxpool2d(x.data(), o);
  Tensor idx = r.indices;
  return Variable::make(r.y, OpKind::MAXPOOL2D, {x}, [idx, o](std::vector<Variable>& v, const Tensor& g) {
    // gx comes out in gy's format: hand gy over in x's (channels-last stays so).
    if (v[0].requires_grad())
      v[0].add_grad(ops::maxpool2d_bwd(g.contiguous(v[0].data().suggest_memory_format()), idx, v[0].shape(), o));
  });
}

Variable avgpool2d(const Variable& x, const ops::Pool2dOptions& o) {
  return Variable::make(
      ops::avgpool2d(x.data(), o), OpKind::AVGPOOL2D, {x}, [o](std::vector<Variable>& v, const Tensor& g) {
        if (v[0].requires_grad())
          v[0].add_grad(ops::avgpool2d_bwd(g.contiguous(v[0].data().suggest_memory_format()), v[0].shape(), o));
      });
}

// The backward is a broadcast: every input element receives g / (H * W), written in
// x's memory format.
Variable global_avgpool(const Variable& x) {
  return Variable::make(ops::global_avgpool(x.data()), OpKind::GLOBAL_AVGPOOL, {x},
                        [](std::vector<Variable>& v, const Tensor& g) {
                          if (!v[0].requires_grad()) return;
                          const Shape& s = v[0].shape();
                          double hw = double(s[2] * s[3]);
                          Tensor gx = Tensor::empty(s, v[0].data().suggest_memory_format(), g.dtype(), g.device());
                          gx.copy_from(ops::mul(g, 1.0 / hw).reshape({s[0], s[1], 1, 1}));
                          v[0].add_grad(gx);
                        });
}

}  // namespace engine::ag
