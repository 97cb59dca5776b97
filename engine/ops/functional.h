#pragma once
// The functional tensor API: pure math on Tensors, no autograd. Every function
// checks its inputs (shapes are printed on mismatch), allocates outputs on the
// inputs' device and dispatches to the kernel for that device.
// Floating kernels support f32 and f64; bf16/f16 tensors run on the CPU through
// f32 temporaries rounded back (engine/backends/cpu/lowp.h) and natively on CUDA.
#include <cstdint>
#include <vector>

#include "base/params.h"
#include "engine/core/tensor.h"

namespace engine::ops {

using kernels::ActivationKind;
using kernels::BinaryOp;
using kernels::CompareOp;
using kernels::UnaryOp;

// ---- data movement (cpu_misc.cpp) ----
Tensor copy(const Tensor& src, DType dtype);           // contiguous copy with cast
void copy_into(const Tensor& dst, const Tensor& src);  // dst may be strided; src broadcasts
void fill(const Tensor& dst, double value);            // dst may be strided
// Counter-based random numbers (Philox-4x32-10): element i of the result takes the
// Philox output for counter (offset + i): the same on every device for one seed.
Tensor rand_uniform(const Shape& shape, uint64_t seed, uint64_t offset, DType dtype = DType::f32,
                    Device device = Device::cpu(), double lo = 0.0, double hi = 1.0);
Tensor randn(const Shape& shape, uint64_t seed, uint64_t offset, DType dtype = DType::f32,
             Device device = Device::cpu(), double mean = 0.0, double stddev = 1.0);

// ---- elementwise (cpu_elementwise.cpp); binary ops broadcast like numpy ----
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor pow(const Tensor& a, double b);
Tensor compare(CompareOp op, const Tensor& a, const Tensor& b);      // u8 result, 1 where true
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond u8, broadcasting
Tensor unary(UnaryOp op, const Tensor& x, double alpha = 0, double beta = 0);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);  // exact: x * Phi(x)
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor clamp(const Tensor& x, double lo, double hi);
// gx = gy * f'(.) where f' reads x (relu, gelu) or y (sigmoid, tanh).
// ReLU'(0) = 0: the gradient at the kink goes nowhere (as in PyTorch).
Tensor activation_bwd(ActivationKind kind, const Tensor& gy, const Tensor& x_or_y);

// ---- reductions (cpu_reduce.cpp); axes may be negative; empty axes = all ----
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor max(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim = false);  // i64; first max wins
Tensor var(const Tensor& x, const std::vector<int64_t>& axes = {}, int64_t correction = 1, bool keepdim = false);
// Sums a broadcast result back to `shape` (the inverse of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- linear algebra (cpu_linalg.cpp; OpenBLAS sgemm/dgemm) ----
// a [..., M, K] x b [..., K, N]; batch dims broadcast; 1-D operands as in numpy.
Tensor matmul(const Tensor& a, const Tensor& b);
// x [N, in], w [out, in], bias [out] or undefined -> [N, out]
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias);

// ---- convolution (cpu_conv.cpp; im2col + GEMM) ----
struct Conv2dOptions {
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
};
kernels::Conv2dParams conv2d_params(const Shape& x, const Shape& w, const Conv2dOptions& o);
// x [N, C, H, W], w [K, C/groups, R, S], bias [K] or undefined -> [N, K, P, Q]
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& o);
Tensor conv2d_bwd_data(const Tensor& gy, const Tensor& w, const Shape& x_shape, const Conv2dOptions& o);
Tensor conv2d_bwd_filter(const Tensor& gy, const Tensor& x, const Shape& w_shape, const Conv2dOptions& o);

// ---- batch norm and pooling (cpu_norm_pool.cpp) ----
struct BatchNormOutput {
  Tensor y, save_mean, save_invstd;  // save_* are [C]: batch statistics in training, running ones in eval
};
// x [N, C, H, W]; gamma, beta, running_mean, running_var [C] (same dtype as x, or f32
// beside a bf16/f16 x on the CPU; save_* and the parameter gradients take their dtype).
// In training the running statistics are updated in place with momentum
// (running = (1 - momentum) * running + momentum * batch; the variance unbiased).
BatchNormOutput batchnorm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                            const Tensor& running_var, bool training, double momentum, double eps);
struct BatchNormGrads {
  Tensor gx, ggamma, gbeta;
};
BatchNormGrads batchnorm2d_bwd(const Tensor& gy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                               const Tensor& save_invstd, bool training);
// Batch norm with a fused epilogue (norm_act.cpp): y = act(BN(x) + residual), act = relu
// or identity, residual [N, C, H, W] of x's dtype or undefined. The [C] tensors (gamma,
// beta, running statistics, save_*) share one dtype: x's, or f32 beside a bf16/f16 x.
// Otherwise as batchnorm2d.
BatchNormOutput batchnorm2d_act(const Tensor& x, const Tensor& residual, const Tensor& gamma, const Tensor& beta,
                                const Tensor& running_mean, const Tensor& running_var, bool relu, bool training,
                                double momentum, double eps);
struct BatchNormActGrads {
  Tensor gx, ggamma, gbeta, gresidual;  // gresidual: the masked upstream gradient, when asked for
};
// y (the forward's output) gives the relu mask y > 0 and is only read with relu.
BatchNormActGrads batchnorm2d_act_bwd(const Tensor& gy, const Tensor& y, const Tensor& x, const Tensor& gamma,
                                      const Tensor& save_mean, const Tensor& save_invstd, bool relu, bool training,
                                      bool want_gresidual);

struct Pool2dOptions {
  int64_t kh = 2, kw = 2, sh = 2, sw = 2, ph = 0, pw = 0;
  bool count_include_pad = true;
};
kernels::Pool2dParams pool2d_params(const Shape& x, const Pool2dOptions& o);
struct MaxPoolOutput {
  Tensor y, indices;  // indices i64: flat h*W+w of the max inside each input plane
};
// Ties: the first maximum in window scan order (row-major) wins and takes the gradient.
MaxPoolOutput maxpool2d(const Tensor& x, const Pool2dOptions& o);
Tensor maxpool2d_bwd(const Tensor& gy, const Tensor& indices, const Shape& x_shape, const Pool2dOptions& o);
Tensor avgpool2d(const Tensor& x, const Pool2dOptions& o);
Tensor avgpool2d_bwd(const Tensor& gy, const Shape& x_shape, const Pool2dOptions& o);
Tensor global_avgpool(const Tensor& x);  // [N, C, H, W] -> [N, C]

// ---- softmax and losses (cpu_softmax.cpp) ----
Tensor softmax(const Tensor& x, int64_t axis);
Tensor log_softmax(const Tensor& x, int64_t axis);
Tensor softmax_bwd(const Tensor& gy, const Tensor& y, int64_t axis);
Tensor log_softmax_bwd(const Tensor& gy, const Tensor& y, int64_t axis);
struct CrossEntropyOutput {
  Tensor loss;  // scalar, mean over rows
  Tensor lse;   // [N] log-sum-exp per row, kept for the backward pass
};
// logits [N, C], labels i64 [N] in [0, C); label smoothing s mixes the one-hot target
// with the uniform distribution: target = (1 - s) * onehot + s / C.
CrossEntropyOutput cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing = 0.0);
Tensor cross_entropy_bwd(const Tensor& gloss, const Tensor& logits, const Tensor& labels, const Tensor& lse,
                         double label_smoothing);

// ---- transformer ops (transformer.cpp) ----
// Layer normalisation over the last dim: y = (x - mean) * rstd * weight + bias with the
// biased variance, rstd = 1 / sqrt(var + eps). weight and bias are [D] or undefined (1
// and 0), of x's dtype or f32 beside a bf16/f16 x. mean and rstd (x's shape without the
// last dim) are f32, or f64 for an f64 x; statistics are computed in that type.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
struct LayerNormOutput {
  Tensor y, mean, rstd;
};
LayerNormOutput layer_norm_fwd(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
struct LayerNormGrads {
  Tensor gx, gweight, gbias;  // gweight / gbias undefined when not asked for
};
LayerNormGrads layer_norm_bwd(const Tensor& gy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                              const Tensor& rstd, bool want_gweight, bool want_gbias);
// Softmax over the last dim of the entries whose u8 mask (broadcastable to x, or
// undefined: all kept) is nonzero; excluded entries, and rows with every entry excluded,
// give 0 (not NaN). Its backward is softmax_bwd(gy, y, -1).
Tensor masked_softmax(const Tensor& x, const Tensor& mask);
// Scaled dot-product attention as one op: q [B, H, Lq, D], k and v [B, H, Lk, D] (one
// float dtype), key_mask u8 [B, Lk] (nonzero: attend) or undefined. o = softmax(scale q
// k^T over the unmasked keys) v [B, H, Lq, D]; lse [B, H, Lq] (f32, f64 for f64) is the
// log-sum-exp of each row's kept scores. A query whose keys are all masked gives o = 0,
// lse = -inf and zero gradients. The kernels never hold more than a tile of the scores.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, double scale);
struct AttentionOutput {
  Tensor o, lse;
};
AttentionOutput attention_fwd(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask, double scale);
struct AttentionGrads {
  Tensor gq, gk, gv;
};
// From go and the forward's o and lse (the probabilities are recomputed tile by tile).
AttentionGrads attention_bwd(const Tensor& go, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
                             const Tensor& lse, const Tensor& key_mask, double scale);
// Rows of weight [V, D] picked by ids (i32 or i64, any shape) -> [ids..., D]: an
// index_select over the flattened ids (its backward is index_add, which accumulates
// repeated ids). An id outside [0, V) is an error naming it (CPU: at once; CUDA: through
// the index-error record, as index_select).
Tensor embedding(const Tensor& weight, const Tensor& ids);
// The flattened ids as i64 [N] on their device, checked against V on the CPU.
Tensor embedding_index(const Tensor& ids, int64_t vocab);

// ---- indexing and shape (cpu_index.cpp) ----
// out[i][j][k] = x[i][index[i][j][k]][k] for axis 1 (torch.gather); index i64.
Tensor gather(const Tensor& x, int64_t axis, const Tensor& index);
// out = base; out[i][index[i][j][k]][k] += src[i][j][k] for axis 1 (torch.scatter_add).
Tensor scatter_add(const Tensor& base, int64_t axis, const Tensor& index, const Tensor& src);
// Rows (along axis) of x picked by a 1-D i64 index.
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index);
// out = base; out.select(axis, index[i]) += src.select(axis, i).
Tensor index_add(const Tensor& base, int64_t axis, const Tensor& index, const Tensor& src);
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis);  // views
struct DropoutOutput {
  Tensor y, mask;  // mask u8: 1 = kept; y = x * mask / (1 - p)
};
// Element i is kept when the Philox uniform for counter (offset + i) is >= p.
DropoutOutput dropout(const Tensor& x, double p, uint64_t seed, uint64_t offset);
struct TopKOutput {
  Tensor values, indices;  // indices i64
};
// Ties: the lower index ranks first (a stable order), and takes the gradient.
TopKOutput topk(const Tensor& x, int64_t k, int64_t axis = -1, bool largest = true);

// ---- mixture of experts (cpu_moe.cpp) ----
// ceil(capacity_factor * T * k / E): the most slots an expert keeps when dropping.
int64_t moe_capacity(double capacity_factor, int64_t T, int64_t k, int64_t E);
struct MoeRouteOutput {
  // The kept slots as rows of one expert-contiguous buffer, expert by expert and in
  // slot order within an expert: [R] i64 each. row_slot = t * k + j, row_token = t.
  Tensor row_token, row_slot, row_expert;
  Tensor offsets;                 // [E + 1] i64: expert e owns rows [offsets[e], offsets[e + 1])
  Tensor counts;                  // [E] i64: slots that chose each expert, before dropping
  Tensor dropped_slots;           // [T * k - R] i64, ascending
  int64_t kept = 0, dropped = 0;  // R and T * k - R (read back from the device)
};
// expert_idx i64 [T, k] (each in [0, E)). capacity < 0: dropless, every slot kept.
// Otherwise an expert over capacity keeps the slots of highest priority [T, k] (router
// probabilities), or without a priority the first choices before the second ones and
// earlier tokens first; equal priorities fall back to that order.
MoeRouteOutput moe_route(const Tensor& expert_idx, const Tensor& priority, int64_t num_experts, int64_t capacity);
// y[r] = x[r] @ w[e] for the rows r of expert e (offsets [E + 1] i64; rows past
// offsets[E] give zeros). x [R, Cin], w [E, Cin, Cout] -> [R, Cout].
Tensor moe_grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& offsets);
Tensor moe_grouped_matmul_bwd_data(const Tensor& gy, const Tensor& w, const Tensor& offsets);  // gy w[e]^T
Tensor moe_grouped_matmul_bwd_weight(const Tensor& x, const Tensor& gy, const Tensor& offsets,
                                     int64_t num_experts);  // gw[e] = x_e^T gy_e
// The fused linear router (moe_router.cpp): x [T, C], w [E, C] -> logits = x w^T /
// temperature [T, E], probs = softmax(logits), the top k of probs (indices i64 [T, k],
// ties: the lower expert) with their probabilities and combine weights [T, k]
// (renormalised to sum 1 per token when asked). One kernel per device.
struct MoeRouterOutput {
  Tensor logits, probs, top_idx, top_probs, weights;
};
MoeRouterOutput moe_router_topk(const Tensor& x, const Tensor& w, int64_t k, double temperature, bool renormalize);
// gx [T, C] and gw [E, C] from the gradients of logits, probs and weights (undefined: zero).
struct MoeRouterGrads {
  Tensor gx, gw;
};
MoeRouterGrads moe_router_topk_bwd(const Tensor& x, const Tensor& w, const MoeRouterOutput& fwd, const Tensor& g_logits,
                                   const Tensor& g_probs, const Tensor& g_weights, double temperature,
                                   bool renormalize);

// ---- optimizer updates, in place (cpu_optim.cpp) ----
// PyTorch's SGD: g = grad + wd * p; buf = momentum * buf + (1 - dampening) * g (buf = g
// on the first step); g = nesterov ? g + momentum * buf : buf; p -= lr * g.
void sgd_step(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf, double lr, double momentum,
              double dampening, double weight_decay, bool nesterov, bool first_step);
// AdamW (decoupled weight decay): p *= 1 - lr * wd, then the Adam update with bias
// correction for `step` (counted from 1).
void adamw_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq, double lr,
                double beta1, double beta2, double eps, double weight_decay, int64_t step);
// The same updates for a group of parameters in one op (one kernel launch on CUDA): all
// tensors on one device with one dtype, contiguous; per tensor its own weight decay and
// (SGD) first-step flag. momentum_bufs is empty when momentum == 0. The results equal
// those of the per-tensor ops.
void sgd_step_multi(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& momentum_bufs, double lr, double momentum, double dampening,
                    const std::vector<double>& weight_decay, bool nesterov, const std::vector<bool>& first_step);
void adamw_step_multi(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                      const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs, double lr,
                      double beta1, double beta2, double eps, const std::vector<double>& weight_decay, int64_t step);
// sum over the tensors of sum(x^2) as an f64 scalar on their device, accumulated in f64
// (one reduction for global-norm gradient clipping).
Tensor sum_squares_multi(const std::vector<Tensor>& xs);

// ---- loss scaling (cpu_amp.cpp) ----
// One op over all gradients: each is multiplied by inv_scale in place, and found_inf
// (f32 [1] on their device) is set to 1 when a result is inf or NaN. It is never
// reset here, so the caller zeroes it once per step and reads it once.
void amp_unscale_(const std::vector<Tensor>& grads, const Tensor& found_inf, double inv_scale);

// ---- data augmentation (cpu_augment.cpp) ----
// f32 [B, C, H, W] from u8 images [N, C, H, W] (or [N, H, W, C] when options.nhwc) at i64
// `indices` [B] on the same device: random crop of the zero-padded image, horizontal
// flip, normalisation and cutout, each record's choices drawn from Philox with
// options.key (kernels/augment_common.h computes them); the same values as data::make_batch_images
// for the same key. options.N, C, H, W and B are taken from the tensors.
Tensor augment_images(const Tensor& images, const Tensor& indices, const kernels::AugmentParams& options);

}  // namespace engine::ops
