#pragma once
// CPU reference kernels: 2-D batch normalisation with a fused epilogue,
// y = act(gamma * xhat + beta [+ residual]) over dense NCHW or channels-last tensors (see
// BatchNormActParams). Statistics are per channel over N*H*W elements, accumulated in
// double, with the semantics of batchnorm2d_fwd_cpu (kernels/cpu/norm.h).
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

// residual, gamma, beta may be null (none, scale 1, shift 0); running_mean/running_var
// are updated in training when given and required in eval.
template <class T>
void batchnorm2d_act_fwd_cpu(const BatchNormActParams& p, T* y, T* save_mean, T* save_invstd, const T* x,
                             const T* residual, const T* gamma, const T* beta, T* running_mean, T* running_var);

// One pass per channel over the upstream gradient masked by the activation
// (g = gy * (y > 0) with relu, gy otherwise): gresidual = g, gbeta = sum g,
// ggamma = sum g * xhat and gx the batch-norm backward of g (batchnorm2d_bwd_cpu).
// y is read only with relu. gx, ggamma, gbeta, gresidual may each be null (not wanted).
template <class T>
void batchnorm2d_act_bwd_cpu(const BatchNormActParams& p, T* gx, T* ggamma, T* gbeta, T* gresidual, const T* gy,
                             const T* y, const T* x, const T* gamma, const T* save_mean, const T* save_invstd);

}  // namespace engine::kernels
