#pragma once
// The bf16 backward-filter convolution of channels-last activations as one GEMM on a CPU
// with bf16 arithmetic: the input's patches gathered into rows (im2col, [N*P*Q, R*S*C],
// bf16), gw [K, R*S*C] = gy^T [K, N*P*Q] x patches in f32 through oneDNN's bf16 GEMM,
// then permuted to [K, C, R, S] and rounded to bf16 once. oneDNN's own backward-filter
// kernels are slow where the output is small in space (4x4 at ResNet's last stage: about
// a fifth of their speed at 32x32), where the GEMM's long dimension is R*S*C instead;
// conv2d_bwd_filter_onednn takes this path for those shapes (conv2d_wgrad_gemm_fits).
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

// Whether this path serves p: channels-last, no groups, at most 16 output pixels per
// image, and a CPU whose bf16 GEMM runs natively (gemm_bf16_native).
bool conv2d_wgrad_gemm_fits(const Conv2dParams& p);
// gw [K, C, R, S] (overwritten) from gy [N, P, Q, K] and x [N, H, W, C], bf16 bits.
void conv2d_bwd_filter_bf16_gemm(uint16_t* gw, const uint16_t* gy, const uint16_t* x, const Conv2dParams& p);

}  // namespace engine::kernels
