// Backward rule of conv2d: the data and filter gradients are ops of their own
// (CONV2D_BWD_DATA, CONV2D_BWD_FILTER); the bias gradient sums gy over N, P, Q.
#include "engine/autograd/autocast.h"
#include "engine/autograd/functions.h"

namespace engine::ag {

Variable conv2d(const Variable& x_in, const Variable& w_in, const Variable& bias_in, const ops::Conv2dOptions& o) {
  auto [x, w, bias] = autocast(AutocastPolicy::LowPrecision, x_in, w_in, bias_in);
  Tensor b = bias.defined() ? bias.data() : Tensor();
  return Variable::make(ops::conv2d(x.data(), w.data(), b, o), OpKind::CONV2D, {x, w, bias},
                        [o](std::vector<Variable>& v, const Tensor& g) {
                          const Tensor &X = v[0].data(), &W = v[1].data();
                          // gx comes out in gy's format: hand gy over in x's (channels-last stays so).
                          if (v[0].requires_grad()) {
                            Tensor gy = g.contiguous(X.suggest_memory_format());
                            v[0].add_grad(ops::conv2d_bwd_data(gy, W, X.shape(), o));
                          }
                          if (v[1].requires_grad()) v[1].add_grad(ops::conv2d_bwd_filter(g, X, W.shape(), o));
                          if (v[2].requires_grad()) v[2].add_grad(ops::sum(g, {0, 2, 3}));
                        });
}

}  // namespace engine::ag
