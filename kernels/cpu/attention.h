#pragma once
// CPU kernels of the transformer's attention: the masked softmax and scaled dot-product
// attention as one blocked computation (online softmax over key tiles, never the whole
// score matrix). T is float or double and is also the arithmetic type.
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

// y = softmax over each row of x [rows, n] (contiguous) of the entries whose mask is
// nonzero; excluded entries and rows with every entry excluded give 0. The mask of
// element (r, j) is at mask[strided_offset(ml, r * n) + j * ml.strides[ml.ndim - 1]]
// (a broadcast view of x's shape); a null mask keeps every entry.
template <class T>
void masked_softmax_fwd_cpu(T* y, const T* x, const uint8_t* mask, const StridedLayout& ml, int64_t rows, int64_t n);

// AttentionParams: q [BH, Lq, D], k and v [BH, Lk, D], key_mask u8 [B, Lk] (BH = B * H) or null, all
// contiguous. s = scale * q k^T with masked keys excluded; o = softmax(s) v [BH, Lq, D],
// lse = logsumexp of each row of s [BH, Lq]. A row whose keys are all masked gives
// o = 0 and lse = -inf.
template <class T>
void attention_fwd_cpu(T* o, T* lse, const T* q, const T* k, const T* v, const uint8_t* key_mask,
                       const AttentionParams& s);
// From go, the forward's o and lse: p = exp(s - lse) (0 for masked keys and rows with
// lse = -inf), delta = rowsum(go * o), gv = p^T go, gs = p * (go v^T - delta),
// gq = scale gs k, gk = scale gs^T q.
template <class T>
void attention_bwd_cpu(T* gq, T* gk, T* gv, const T* go, const T* q, const T* k, const T* v, const T* o, const T* lse,
                       const uint8_t* key_mask, const AttentionParams& s);

}  // namespace engine::kernels
