#pragma once
// CPU reference kernels: softmax, log-softmax and cross-entropy. Softmax tensors are
// contiguous [outer, n, inner], normalised along the middle axis; sums run in double.
#include <cstdint>

namespace engine::kernels {

// y = softmax(x) or log_softmax(x) along the middle axis (max-subtracted, so large
// inputs stay finite).
template <class T>
void softmax_fwd_cpu(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool log);
// softmax:     gx = y * (gy - sum_j gy_j y_j)
// log_softmax: gx = gy - exp(y) * sum_j gy_j
template <class T>
void softmax_bwd_cpu(T* gx, const T* gy, const T* y, int64_t outer, int64_t n, int64_t inner, bool log);

// logits [N, C], labels [N] in [0, C) (checked; throws naming the bad label).
// With target t = (1 - s) onehot(label) + s / C:
//   lse[r] = log sum_c exp(x[r, c]);  loss = mean_r (lse[r] - sum_c t_c x[r, c]).
template <class T>
void cross_entropy_fwd_cpu(T* loss, T* lse, const T* logits, const int64_t* labels, int64_t N, int64_t C,
                           double label_smoothing);
// glogits[r, c] = gloss / N * (exp(x[r, c] - lse[r]) - t_c); gloss points at one element.
template <class T>
void cross_entropy_bwd_cpu(T* glogits, const T* gloss, const T* logits, const int64_t* labels, const T* lse, int64_t N,
                           int64_t C, double label_smoothing);

}  // namespace engine::kernels
