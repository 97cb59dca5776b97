#pragma once
// Plain parameter structs shared by the CPU and CUDA kernels. kernels/ knows nothing
// about Tensor or autograd: kernels take raw pointers, sizes and these structs.
#include <cstdint>

namespace engine::kernels {

// Reductions over the inner dimension of a contiguous [outer, inner] matrix.
enum class ReduceOp : uint8_t { Sum, Mean, Max, Var };

constexpr int kMaxDims = 8;

// A strided view of one operand over a shared logical shape (element strides; a
// broadcast dimension has stride 0). The output of an elementwise kernel is contiguous.
struct StridedLayout {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
  bool contiguous = true;  // strides are the contiguous strides of shape
};

// Offset of logical element i (row-major over shape) in a strided layout.
inline int64_t strided_offset(const StridedLayout& l, int64_t i) {
  int64_t off = 0;
  for (int d = l.ndim - 1; d >= 0; --d) {
    int64_t s = l.shape[d];
    off += (i % s) * l.strides[d];
    i /= s;
  }
  return off;
}

enum class BinaryOp : uint8_t { Add, Sub, Mul, Div, Pow, Maximum };
enum class UnaryOp : uint8_t { Neg, Exp, Log, Sqrt, Rsqrt, Relu, Gelu, Sigmoid, Tanh, Clamp };
enum class CompareOp : uint8_t { Eq, Ne, Lt, Le, Gt, Ge };
// Backward of an activation: relu and gelu read x, sigmoid and tanh read y.
enum class ActivationKind : uint8_t { Relu, Gelu, Sigmoid, Tanh };

// Batched row-major GEMM: c[i] = op(a[i]) * op(b[i]) for i < batch, c contiguous
// [batch, M, N]. op(a) is [M, K]: a[i] is stored [M, K] with leading dimension lda, or
// [K, M] when trans_a (likewise b: [K, N] or [N, K] when trans_b). Matrix i of a starts
// at a + i * stride_a; stride 0 shares one matrix across the batch (broadcasting).
struct MatmulParams {
  int64_t batch = 1, M = 0, K = 0, N = 0;
  bool trans_a = false, trans_b = false;
  int64_t lda = 0, ldb = 0, stride_a = 0, stride_b = 0;
};

// Scaled dot-product attention: q [B, H, Lq, D], k and v [B, H, Lk, D], scores scaled by `scale`.
struct AttentionParams {
  int64_t B = 0, H = 0, Lq = 0, Lk = 0, D = 0;
  double scale = 1.0;
};

struct Conv2dParams {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input NCHW
  int64_t K = 0, R = 0, S = 0;         // filters KxC/groups xRxS
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;
  int64_t P = 0, Q = 0;        // output height, width
  bool channels_last = false;  // x, y (and their gradients) are NHWC in memory; filters stay KCRS
};

struct Pool2dParams {
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
  int64_t P = 0, Q = 0;
  bool count_include_pad = true;  // avg-pool divisor: kh*kw (true) or the in-bounds count
  bool channels_last = false;     // input, output, indices and gradients are NHWC in memory
};

struct BatchNormParams {
  int64_t N = 0, C = 0, HW = 0;
  double momentum = 0.1, eps = 1e-5;
  bool training = true;
  bool channels_last = false;  // x, y and their gradients are [N, HW, C] in memory
};

// Batch normalisation with a fused epilogue: y = act(gamma * xhat + beta [+ residual]),
// act = identity or relu; the residual is optional (a null pointer).
struct BatchNormActParams {
  int64_t N = 0, C = 0, HW = 0;
  double momentum = 0.1, eps = 1e-5;
  bool training = true, relu = false;
  bool channels_last = false;  // x, residual, y and their gradients are [N, HW, C] in memory
};

// Plain batch normalisation is the fused one without its epilogue: the CPU and CUDA
// batch-norm ops both run the fused kernels.
inline BatchNormActParams without_epilogue(const BatchNormParams& p) {
  BatchNormActParams a;
  a.N = p.N;
  a.C = p.C;
  a.HW = p.HW;
  a.momentum = p.momentum;
  a.eps = p.eps;
  a.training = p.training;
  a.relu = false;
  a.channels_last = p.channels_last;
  return a;
}

// One tensor of a multi-tensor optimizer step: n contiguous elements of the parameter p,
// its gradient g and up to two state buffers (SGD: s1 = momentum buffer or null; AdamW:
// s1 = exp_avg, s2 = exp_avg_sq), with its own weight decay and (SGD) first-step flag.
struct MultiTensorRecord {
  void* p = nullptr;
  const void* g = nullptr;
  void* s1 = nullptr;
  void* s2 = nullptr;
  int64_t n = 0;
  double weight_decay = 0.0;
  int32_t first_step = 0;
};
// A piece of at most the launch's chunk size of record `tensor`, from element `start`:
// the CUDA kernel runs one block per chunk, so a group of many small and a few large
// tensors spreads evenly over one launch.
struct MultiTensorChunk {
  int64_t tensor = 0, start = 0;
};
struct SgdHyper {
  double lr = 0, momentum = 0, dampening = 0;
  bool nesterov = false;
};
struct AdamWHyper {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0;
  int64_t step = 1;
};

// Mixture-of-experts token routing: T tokens each choose k of E experts (T * k slots;
// slot s = t * k + j is token t's j-th choice). With drop, an expert keeps at most
// `capacity` slots; without it every slot is kept (dropless).
struct MoeRouteParams {
  int64_t T = 0, k = 1, E = 1, capacity = 0;
  bool drop = false;
};

// Grouped GEMM over an expert-contiguous row buffer: rows [offsets[e], offsets[e+1]) of
// x [R, Cin] belong to expert e and are multiplied by its matrix w[e] [Cin, Cout].
struct MoeGroupedMatmulParams {
  int64_t E = 0, R = 0, Cin = 0, Cout = 0;
};

// The fused linear router of T tokens [T, C] over E experts (weight [E, C]): logits
// scaled by 1 / temperature, softmax, the top k (ties: the lower expert), and the k
// combine weights (divided by their sum when renormalize).
struct MoeRouterParams {
  int64_t T = 0, C = 0, E = 1, k = 1;
  double temperature = 1.0;
  bool renormalize = false;
};

// Image augmentation (kernels/augment_common.h holds the computation).
constexpr int kAugmentMaxChannels = 4;
constexpr uint64_t kAugmentWordsPerImage = 8;

// u8 source images [N, C, H, W] (or [N, H, W, C] when nhwc) -> f32 [B, C, H, W] for B
// record indices: crop of the image zero-padded by crop_padding, horizontal flip with
// probability 1/2, (x / 255 - mean) / std as x * scale[c] + shift[c], cutout square
// of side cutout_size set to 0 after normalisation.
struct AugmentParams {
  int64_t N = 0, C = 0, H = 0, W = 0, B = 0;
  int64_t crop_padding = 0, cutout_size = 0;
  bool hflip = false, nhwc = false;
  uint64_t key = 0;  // the epoch's Philox key
  float scale[kAugmentMaxChannels] = {}, shift[kAugmentMaxChannels] = {};
};

}  // namespace engine::kernels
