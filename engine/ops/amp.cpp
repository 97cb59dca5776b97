// Functional loss-scaling op.
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"

namespace engine::ops {

void amp_unscale_(const std::vector<Tensor>& grads, const Tensor& found_inf, double inv_scale) {
  ENGINE_CHECK(
      found_inf.defined() && found_inf.dtype() == DType::f32 && found_inf.numel() == 1 && found_inf.is_contiguous(),
      "amp_unscale: found_inf must be a contiguous f32 tensor of one element, got "
          << (found_inf.defined() ? found_inf.header() : std::string("undefined")));
  OpCall call{OpKind::AMP_UNSCALE, {}, {found_inf}, nullptr};
  for (const Tensor& g : grads) {
    ENGINE_CHECK(g.defined() && is_floating(g.dtype()) && g.is_contiguous(),
                 "amp_unscale: gradients must be contiguous floating tensors, got "
                     << (g.defined() ? g.header() : std::string("undefined")));
    if (g.numel() > 0) call.out.push_back(g);
  }
  AmpUnscaleAttrs a{inv_scale};
  call.attrs = &a;
  dispatch(call);
}

}  // namespace engine::ops
