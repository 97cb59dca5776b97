#pragma once
// Differentiable functions on Variables. Each computes its result with engine::ops
// and records a GradFn whose backward rule lives in engine/autograd/rules/<family>.cpp.
// Decisions at non-differentiable points:
//   relu'(0) = 0; clamp passes the gradient only strictly inside (lo, hi);
//   maximum(a, b) sends the gradient to a where a >= b;
//   max-reduction and max-pool send it to the first maximum (argmax order);
//   top-k sends it to the selected elements, ties broken toward the lower index.
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/autograd/variable.h"
#include "engine/ops/functional.h"

namespace engine::ag {

// ---- views (rules/views.cpp) ----
Variable reshape(const Variable& x, const Shape& shape);
Variable flatten(const Variable& x, int64_t start_dim = 1);
Variable permute(const Variable& x, const std::vector<int64_t>& dims);
Variable transpose(const Variable& x, int64_t d0, int64_t d1);
Variable slice(const Variable& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Variable expand(const Variable& x, const Shape& shape);
Variable contiguous(const Variable& x);  // COPY
// Channels-last (or row-major) copy of x, x itself when already so; the gradient passes as is.
Variable contiguous(const Variable& x, MemoryFormat format);  // COPY
Variable cast(const Variable& x, DType dtype);                // COPY

// ---- elementwise (rules/elementwise.cpp) ----
Variable add(const Variable& a, const Variable& b);
Variable sub(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
Variable div(const Variable& a, const Variable& b);
Variable pow(const Variable& a, const Variable& b);  // a > 0 where b needs a gradient
Variable maximum(const Variable& a, const Variable& b);
Variable add(const Variable& a, double b);
Variable mul(const Variable& a, double b);
Variable pow(const Variable& a, double b);
Variable where(const Tensor& cond, const Variable& a, const Variable& b);
Variable neg(const Variable& x);
Variable exp(const Variable& x);
Variable log(const Variable& x);
Variable sqrt(const Variable& x);
Variable rsqrt(const Variable& x);
Variable relu(const Variable& x);
Variable gelu(const Variable& x);
Variable sigmoid(const Variable& x);
Variable tanh(const Variable& x);
Variable clamp(const Variable& x, double lo, double hi);

// ---- reductions (rules/reduce.cpp) ----
Variable sum(const Variable& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Variable mean(const Variable& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Variable max(const Variable& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Variable var(const Variable& x, const std::vector<int64_t>& axes = {}, int64_t correction = 1, bool keepdim = false);

// ---- linear algebra (rules/linalg.cpp) ----
Variable matmul(const Variable& a, const Variable& b);
Variable linear(const Variable& x, const Variable& w, const Variable& bias);  // bias may be undefined

// ---- convolution, normalisation, pooling (rules/conv.cpp, rules/norm_pool.cpp) ----
Variable conv2d(const Variable& x, const Variable& w, const Variable& bias, const ops::Conv2dOptions& o);
// running_mean / running_var are buffers updated in place in training.
Variable batchnorm2d(const Variable& x, const Variable& gamma, const Variable& beta, const Tensor& running_mean,
                     const Tensor& running_var, bool training, double momentum, double eps);
// act(batchnorm2d(x) + residual) as one op (rules/norm_act.cpp); residual may be undefined,
// act is relu or identity. The relu mask of the backward is y > 0.
Variable batchnorm2d_act(const Variable& x, const Variable& residual, const Variable& gamma, const Variable& beta,
                         const Tensor& running_mean, const Tensor& running_var, bool relu, bool training,
                         double momentum, double eps);
Variable maxpool2d(const Variable& x, const ops::Pool2dOptions& o);
Variable avgpool2d(const Variable& x, const ops::Pool2dOptions& o);
Variable global_avgpool(const Variable& x);

// ---- softmax and losses (rules/softmax.cpp) ----
Variable softmax(const Variable& x, int64_t axis);
Variable log_softmax(const Variable& x, int64_t axis);
Variable cross_entropy(const Variable& logits, const Tensor& labels, double label_smoothing = 0.0);

// ---- transformer ops (rules/transformer.cpp) ----
// weight and bias may be undefined; bf16/f16 x is computed in f32 under autocast.
Variable layer_norm(const Variable& x, const Variable& weight, const Variable& bias, double eps);
Variable masked_softmax(const Variable& x, const Tensor& mask);
// Under autocast q, k, v are computed in the low-precision dtype (as matmul).
Variable attention(const Variable& q, const Variable& k, const Variable& v, const Tensor& key_mask, double scale);
// index_select of the flattened ids, reshaped to [ids..., D]; repeated ids accumulate.
Variable embedding(const Variable& weight, const Tensor& ids);

// ---- indexing and shape (rules/index.cpp) ----
Variable gather(const Variable& x, int64_t axis, const Tensor& index);
Variable scatter_add(const Variable& base, int64_t axis, const Tensor& index, const Variable& src);
Variable index_select(const Variable& x, int64_t axis, const Tensor& index);
Variable index_add(const Variable& base, int64_t axis, const Tensor& index, const Variable& src);
Variable concat(const std::vector<Variable>& xs, int64_t axis);
std::vector<Variable> split(const Variable& x, const std::vector<int64_t>& sizes, int64_t axis);
// Identity when !training or p == 0.
Variable dropout(const Variable& x, double p, bool training, uint64_t seed, uint64_t offset);
struct TopK {
  Variable values;
  Tensor indices;
};
TopK topk(const Variable& x, int64_t k, int64_t axis = -1, bool largest = true);

// ---- mixture of experts (rules/moe.cpp) ----
// y[r] = x[r] @ w[e(r)] over an expert-contiguous row buffer (ops::moe_grouped_matmul).
Variable moe_grouped_matmul(const Variable& x, const Variable& w, const Tensor& offsets);
// The fused linear router (ops::moe_router_topk): logits, probs and weights are views
// of one node, so that a single MOE_ROUTER_TOPK_BWD serves the gradients of all three.
struct MoeRouterTopK {
  Variable logits, probs, weights;  // [T, E], [T, E], [T, k]
  Tensor top_idx, top_probs;        // [T, k]: i64 experts, probabilities before renormalisation
};
MoeRouterTopK moe_router_topk(const Variable& x, const Variable& w, int64_t k, double temperature, bool renormalize);

// ---- activation checkpointing (rules/checkpoint.cpp) ----
// y = fn(inputs), computed without recording a graph: only the inputs are kept. The
// backward pass runs fn again with recording and backpropagates through that run.
// `params` are the other leaves fn reads (a module's parameters); their gradients
// accumulate as usual. The second run sees the default generator as the first did
// (dropout draws the same masks) and checkpoint_recomputing() true (BatchNorm2d then
// leaves its running statistics alone). Without grad mode or a leaf needing a
// gradient, fn is simply called.
using CheckpointFn = std::function<Variable(const std::vector<Variable>&)>;
Variable checkpoint(const CheckpointFn& fn, const std::vector<Variable>& inputs, const std::vector<Variable>& params);
bool checkpoint_recomputing();

}  // namespace engine::ag
