#pragma once
// Attribute structs carried by OpCall::attrs, one per op that needs more than its
// tensors. Shared by the CPU and CUDA adapters. Tensor order in OpCall::in/out is
// written beside each op.
#include <cstdint>
#include <vector>

#include "base/params.h"

namespace engine {

// COPY: in {src (any strides, broadcast allowed)}, out {dst (any strides)}; dtypes may differ.
// FILL: out {dst}
struct FillAttrs {
  double value;
};
// RNG_UNIFORM / RNG_NORMAL: out {dst contiguous}; a, b = lo, hi or mean, stddev
struct RngAttrs {
  uint64_t seed, offset;
  double a, b;
};
// ADD..MAXIMUM: in {a, b} (broadcast views of out's shape), out {y contiguous}
struct BinaryAttrs {
  kernels::BinaryOp op;
};
// COMPARE: in {a, b}, out {u8}
struct CompareAttrs {
  kernels::CompareOp op;
};
// WHERE: in {cond u8, a, b} broadcast views, out {y}
// NEG..CLAMP: in {x (any strides)}, out {y contiguous}
struct UnaryAttrs {
  kernels::UnaryOp op;
  double alpha, beta;
};
// ACTIVATION_BWD: in {gy, x_or_y} (same shape, contiguous), out {gx}
struct ActivationBwdAttrs {
  kernels::ActivationKind kind;
};
// SUM, MEAN, MAX, VAR: in {x contiguous [outer, inner]} reduced over inner, out {[outer]}
// ARGMAX: same, out i64
struct ReduceAttrs {
  int64_t outer, inner;
  int64_t correction;
};
// MATMUL: in {a, b} (matrices laid out as p describes, from each tensor's data pointer),
// out {[batch, M, N] contiguous}
struct MatmulAttrs {
  kernels::MatmulParams p;
};
// LINEAR: in {x [N, in], w [out, in], bias [out] or undefined} contiguous, out {[N, out]}
// CONV2D: in {x, w, bias or undefined}, out {y}; CONV2D_BWD_DATA: in {gy, w}, out {gx};
// CONV2D_BWD_FILTER: in {gy, x}, out {gw}; all contiguous NCHW
struct ConvAttrs {
  kernels::Conv2dParams p;
};
// BATCHNORM2D: in {x, gamma, beta, running_mean, running_var}, out {y, save_mean, save_invstd}
// BATCHNORM2D_BWD: in {gy, x, gamma, save_mean, save_invstd}, out {gx, ggamma, gbeta}
struct BatchNormAttrs {
  kernels::BatchNormParams p;
};
// BATCHNORM2D_ACT: in {x, residual, gamma, beta, running_mean, running_var}, out {y, save_mean, save_invstd}
// BATCHNORM2D_ACT_BWD: in {gy, y, x, gamma, save_mean, save_invstd}, out {gx, ggamma, gbeta, gresidual}
// (residual, gamma, beta, running statistics, y without relu and unwanted outputs may be undefined;
// the [C] tensors have x's dtype, or f32 beside a bf16/f16 x)
struct BatchNormActAttrs {
  kernels::BatchNormActParams p;
};
// MAXPOOL2D: in {x}, out {y, indices}; MAXPOOL2D_BWD: in {gy, indices}, out {gx}
// AVGPOOL2D: in {x}, out {y}; AVGPOOL2D_BWD: in {gy}, out {gx}; GLOBAL_AVGPOOL: in {x}, out {[N, C]}
struct PoolAttrs {
  kernels::Pool2dParams p;
};
// SOFTMAX, LOG_SOFTMAX: in {x [outer, n, inner]}, out {y}; *_BWD: in {gy, y}, out {gx}
struct SoftmaxAttrs {
  int64_t outer, n, inner;
};
// LAYERNORM: in {x [rows, D], weight [D] or undefined, bias [D] or undefined}, out {y, mean [rows], rstd [rows]}
// LAYERNORM_BWD: in {gy, x, weight or undefined, mean, rstd}, out {gx, gweight, gbias} (the last two undefined
// when not wanted). All contiguous; weight and bias have x's dtype, or f32 beside a bf16/f16 x; mean and rstd
// are f32, or f64 for an f64 x.
struct LayerNormAttrs {
  int64_t rows, D;
  double eps;
};
// MASKED_SOFTMAX: in {x contiguous [rows, n], mask u8 (a broadcast view of x's shape, any strides) or
// undefined}, out {y}
struct MaskedSoftmaxAttrs {
  int64_t rows, n;
};
// ATTENTION: in {q [B, H, Lq, D], k [B, H, Lk, D], v [B, H, Lk, D], key_mask u8 [B, Lk] or undefined},
// out {o [B, H, Lq, D], lse [B, H, Lq]}
// ATTENTION_BWD: in {go, q, k, v, o, lse, key_mask or undefined}, out {gq, gk, gv}
// All contiguous; lse is f32, or f64 for f64 q.
struct AttentionAttrs {
  kernels::AttentionParams p;
};
// CROSS_ENTROPY: in {logits [N, C], labels i64 [N]}, out {loss [], lse [N]}
// CROSS_ENTROPY_BWD: in {gloss [], logits, labels, lse}, out {glogits}
struct CrossEntropyAttrs {
  double label_smoothing;
};
// GATHER: in {x, index}, out {y}; SCATTER_ADD: in {base, index, src}, out {y}
// (contiguous, viewed as [outer, n, inner] around axis; index has the shape of y for
// GATHER and of src for SCATTER_ADD; n_x is the axis size of x, or of base and y)
struct GatherAttrs {
  int64_t outer, n_x, n_idx, inner;
};
// INDEX_SELECT: in {x, index 1-D}, out {y}; INDEX_ADD: in {base, index, src}, out {y}
struct IndexAttrs {
  int64_t outer, n_x, n_idx, inner;
};
// CONCAT: in {xs...} contiguous, out {y}; sizes along the axis in `sizes`
struct ConcatAttrs {
  int64_t outer, inner;
  std::vector<int64_t> sizes;
};
// DROPOUT: in {x contiguous}, out {y, mask u8}
struct DropoutAttrs {
  double p;
  uint64_t seed, offset;
};
// TOPK: in {x contiguous [outer, n, inner]}, out {values, indices i64 [outer, k, inner]}
struct TopKAttrs {
  int64_t outer, n, inner, k;
  bool largest;
};
// MOE_ROUTE: in {expert_idx i64 [T, k], priority [T, k] f32/f64 or undefined (token order)},
// out {row_token, row_slot, row_expert i64 [T * k], offsets i64 [E + 1], counts i64 [E]}
struct MoeRouteAttrs {
  kernels::MoeRouteParams p;
};
// MOE_GROUPED_MATMUL: in {x [R, Cin], w [E, Cin, Cout], offsets i64 [E + 1]}, out {y [R, Cout]}
// MOE_GROUPED_MATMUL_BWD_DATA: in {gy [R, Cout], w, offsets}, out {gx [R, Cin]}
// MOE_GROUPED_MATMUL_BWD_WEIGHT: in {x, gy, offsets}, out {gw [E, Cin, Cout]}; all contiguous
struct MoeGroupedMatmulAttrs {
  kernels::MoeGroupedMatmulParams p;
};
// MOE_ROUTER_TOPK: in {x [T, C], w [E, C]} contiguous, one float dtype;
// out {logits [T, E], probs [T, E], top_idx i64 [T, k], top_probs [T, k], weights [T, k]}
// MOE_ROUTER_TOPK_BWD: in {x, w, probs, top_idx, top_probs, g_logits, g_probs, g_weights}
// (each gradient contiguous or undefined: zero), out {gx [T, C], gw [E, C]}
struct MoeRouterAttrs {
  kernels::MoeRouterParams p;
};

// SGD_STEP: in {grad}, out {param, momentum_buf (undefined when momentum == 0)}, all contiguous, same shape
struct SgdAttrs {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, first_step;
};
// ADAMW_STEP: in {grad}, out {param, exp_avg, exp_avg_sq}; step counts from 1
struct AdamWAttrs {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;
};
// Multi-tensor steps over n tensors of one device and dtype, all contiguous:
// SGD_STEP_MULTI: in {grad_0..grad_n-1}, out {param_0..param_n-1, then momentum_buf_0..n-1 when momentum != 0};
// ADAMW_STEP_MULTI: in {grad_0..grad_n-1}, out {param_0..n-1, exp_avg_0..n-1, exp_avg_sq_0..n-1}.
// weight_decay and first_step hold one entry per tensor.
struct SgdMultiAttrs {
  kernels::SgdHyper h;
  std::vector<double> weight_decay;
  std::vector<uint8_t> first_step;
};
struct AdamWMultiAttrs {
  kernels::AdamWHyper h;
  std::vector<double> weight_decay;
};
// SUM_SQUARES_MULTI: in {x_0..x_n-1} contiguous, one dtype; out {f64 scalar []}
// AMP_UNSCALE: in {}, out {found_inf f32 [1], grads... contiguous, any float dtype}; grads *= inv_scale in
// place, found_inf set to 1 when a result is inf/NaN (never lowered)
struct AmpUnscaleAttrs {
  double inv_scale;
};

// AUGMENT_IMAGES: in {images u8 [N, C, H, W] or [N, H, W, C] (p.nhwc), indices i64 [B]}, both
// contiguous, out {f32 [B, C, H, W]}
struct AugmentImagesAttrs {
  kernels::AugmentParams p;
};

}  // namespace engine
