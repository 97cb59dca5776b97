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

// The kernels above, for f32 (non-empty), are the vectorised, threaded ones of
// norm_act_f32.cpp; the _ref kernels are the plain per-channel loops in double, the
// reference they are tested against (and the path of f64).
template <class T>
void batchnorm2d_act_fwd_ref(const BatchNormActParams& p, T* y, T* save_mean, T* save_invstd, const T* x,
                             const T* residual, const T* gamma, const T* beta, T* running_mean, T* running_var);
template <class T>
void batchnorm2d_act_bwd_ref(const BatchNormActParams& p, T* gx, T* ggamma, T* gbeta, T* gresidual, const T* gy,
                             const T* y, const T* x, const T* gamma, const T* save_mean, const T* save_invstd);

void batchnorm2d_act_fwd_f32(const BatchNormActParams& p, float* y, float* save_mean, float* save_invstd,
                             const float* x, const float* residual, const float* gamma, const float* beta,
                             float* running_mean, float* running_var);
void batchnorm2d_act_bwd_f32(const BatchNormActParams& p, float* gx, float* ggamma, float* gbeta, float* gresidual,
                             const float* gy, const float* y, const float* x, const float* gamma,
                             const float* save_mean, const float* save_invstd);

// bf16 activations (x, residual, y, gy, gx, gresidual as bf16 bits) with f32 parameters,
// statistics and parameter gradients: the f32 kernels above on cache-sized blocks widened
// on the fly, each result rounded to bf16 once (norm_act_f32.cpp). Any N * H * W.
void batchnorm2d_act_fwd_bf16(const BatchNormActParams& p, uint16_t* y, float* save_mean, float* save_invstd,
                              const uint16_t* x, const uint16_t* residual, const float* gamma, const float* beta,
                              float* running_mean, float* running_var);
void batchnorm2d_act_bwd_bf16(const BatchNormActParams& p, uint16_t* gx, float* ggamma, float* gbeta,
                              uint16_t* gresidual, const uint16_t* gy, const uint16_t* y, const uint16_t* x,
                              const float* gamma, const float* save_mean, const float* save_invstd);

}  // namespace engine::kernels
