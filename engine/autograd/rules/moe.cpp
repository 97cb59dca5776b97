// Backward rules of the mixture-of-experts family. For y[r] = x[r] w[e(r)] over an
// expert-contiguous buffer: gx[r] = gy[r] w[e(r)]^T and gw[e] = x_e^T gy_e, each a
// grouped GEMM of its own (MOE_GROUPED_MATMUL_BWD_DATA / _BWD_WEIGHT).
#include "engine/autograd/functions.h"

namespace engine::ag {

Variable moe_grouped_matmul(const Variable& x, const Variable& w, const Tensor& offsets) {
  return Variable::make(ops::moe_grouped_matmul(x.data(), w.data(), offsets), OpKind::MOE_GROUPED_MATMUL, {x, w},
                        [offsets](std::vector<Variable>& v, const Tensor& g) {
                          if (v[0].requires_grad())
                            v[0].add_grad(ops::moe_grouped_matmul_bwd_data(g, v[1].data(), offsets));
                          if (v[1].requires_grad())
                            v[1].add_grad(
                                ops::moe_grouped_matmul_bwd_weight(v[0].data(), g, offsets, v[1].size(0)));
                        });
}

}  // namespace engine::ag
