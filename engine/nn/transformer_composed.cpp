#include "engine/nn/transformer_composed.h"

namespace engine::nn::composed {

Variable layer_norm(const Variable& x, const Variable& weight, const Variable& bias, double eps) {
  ENGINE_CHECK(x.dim() >= 1 && weight.dim() == 1 && bias.dim() == 1 && weight.size(0) == x.size(-1) &&
                   bias.size(0) == x.size(-1),
               "layer_norm: weight and bias must be [" << (x.dim() >= 1 ? x.size(-1) : 0) << "] for x "
                                                       << shape_str(x.shape()) << ", got " << shape_str(weight.shape())
                                                       << " and " << shape_str(bias.shape()));
  Variable centred = ag::sub(x, ag::mean(x, {-1}, true));
  Variable var = ag::mean(ag::mul(centred, centred), {-1}, true);
  Variable normed = ag::mul(centred, ag::rsqrt(ag::add(var, eps)));
  return ag::add(ag::mul(normed, weight), bias);
}

Variable masked_softmax(const Variable& x, const Tensor& mask) {
  ENGINE_CHECK(mask.dtype() == DType::u8, "masked_softmax: the mask must be u8, got " << dtype_name(mask.dtype()));
  // A large finite negative rather than -inf: a fully masked row stays finite.
  Variable fill(Tensor::scalar(-1e30, x.dtype(), x.device()));
  return ag::softmax(ag::where(mask, x, fill), -1);
}

Variable attention(const Variable& q, const Variable& k, const Variable& v, const Tensor& key_mask, double scale) {
  ENGINE_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && k.shape() == v.shape() && q.size(0) == k.size(0) &&
                   q.size(1) == k.size(1) && q.size(3) == k.size(3),
               "attention: expected q [B, H, Lq, D] and k, v [B, H, Lk, D], got "
                   << shape_str(q.shape()) << ", " << shape_str(k.shape()) << ", " << shape_str(v.shape()));
  ENGINE_CHECK(
      key_mask.dim() == 2 && key_mask.size(0) == k.size(0) && key_mask.size(1) == k.size(2),
      "attention: expected key_mask [" << k.size(0) << ", " << k.size(2) << "], got " << shape_str(key_mask.shape()));
  Variable scores = ag::mul(ag::matmul(q, ag::transpose(k, -2, -1)), scale);
  Tensor mask = key_mask.reshape({key_mask.size(0), 1, 1, key_mask.size(1)});
  return ag::matmul(masked_softmax(scores, mask), v);
}

Variable embedding(const Variable& weight, const Tensor& ids) {
  ENGINE_CHECK(weight.dim() == 2, "embedding: weight must be [N, D], got " << shape_str(weight.shape()));
  Shape out = ids.shape();
  out.push_back(weight.size(1));
  return ag::reshape(ag::index_select(weight, 0, ids.reshape({ids.numel()})), out);
}

}  // namespace engine::nn::composed
