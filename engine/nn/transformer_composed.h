#pragma once
// The transformer ops of the encoder modules (engine/nn/transformer.h), composed from
// existing ag:: functions: layer norm from mean/sub/mul/rsqrt, the masked softmax from
// where + softmax, attention from two matmuls, the embedding lookup from index_select.
// The modules call them only through this header, so that fused ops with the same
// signatures can take their place in one file.
#include "engine/autograd/functions.h"

namespace engine::nn::composed {

// Normalises over the last dim (biased variance), then y * weight + bias ([D] each).
Variable layer_norm(const Variable& x, const Variable& weight, const Variable& bias, double eps);
// softmax over the last dim of x, counting only the positions where mask (u8,
// broadcastable to x) is nonzero; a row with no such position comes out uniform.
Variable masked_softmax(const Variable& x, const Tensor& mask);
// q, k, v [B, H, L, D] (k, v with Lk rows); key_mask u8 [B, Lk], nonzero = attend.
// softmax(q k^T * scale) v -> [B, H, Lq, D].
Variable attention(const Variable& q, const Variable& k, const Variable& v, const Tensor& key_mask, double scale);
// weight [N, D], ids i64 of any shape -> [ids..., D].
Variable embedding(const Variable& weight, const Tensor& ids);

}  // namespace engine::nn::composed
