#pragma once
// The tiny multimodal MoE of the model tests (tests/moe, tests/cuda): 1-channel 12x12
// images, 3 classes with 5 description vectors of width 6, image tokens after stage 2,
// width 8, 2 heads, 3 experts behind an attentive router, both routing entropy terms.
#include "models/multimodal_moe.h"

namespace engine::testing {

inline models::MultimodalConfig small_multimodal_config(int64_t top_k, double hidden_mult) {
  models::MultimodalConfig c;
  c.resnet.in_channels = 1;
  c.resnet.num_classes = 3;
  c.resnet.width_mult = 0.125;
  c.token_stage = 2;
  c.dim = 8;
  c.heads = 2;
  c.hidden_mult = hidden_mult;
  c.text_dim = 6;
  c.text_classes = {0, 1, 1, 2, 0};
  c.moe.num_experts = 3;
  c.moe.top_k = top_k;
  c.moe.router.kind = nn::moe::RouterKind::Attentive;
  c.moe.router_dim = 4;
  c.moe.lb_coef = 0.1;
  c.moe.z_coef = 0.01;
  c.entropy_local_coef = 0.3;
  c.entropy_global_coef = 0.2;
  return c;
}

}  // namespace engine::testing
