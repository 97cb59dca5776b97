#pragma once
// f32 and bf16 2-D convolutions through oneDNN (libdnnl), the CPU counterpart of cuDNN: forward,
// backward-data and backward-filter, NCHW or channels-last activations (as
// Conv2dParams::channels_last says), filters [K, C/groups, R, S] row-major, the same
// contract as the im2col kernels of conv.h, which stay the reference and the fallback.
// Primitives are created once per shape and kept in a process-wide cache (thread-safe);
// oneDNN picks the instruction set of the machine at run time.
//
// In a build without oneDNN (ENGINE_ONEDNN=OFF or libdnnl not found) conv2d_onednn_built()
// is false and the other functions throw.
#include <cstddef>
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

enum class ConvDirection : uint8_t { Forward, BackwardData, BackwardFilter };
// The dtype of every operand of a call (bf16: bf16 in and out, f32 accumulation).
enum class ConvDType : uint8_t { f32, bf16 };

bool conv2d_onednn_built();
// Whether the CPU has bf16 arithmetic (AVX-512 BF16 or AMX) as oneDNN sees it at run
// time; the bf16 functions below work elsewhere too (oneDNN emulates), but the callers
// take the f32 path there.
bool conv2d_onednn_bf16_native();
// Whether oneDNN runs on AMX tiles here (avx512_core_amx): its bf16 backward-filter
// kernels are fast only there (see engine/backends/cpu/conv.cpp).
bool conv2d_onednn_amx();

// y = conv(x, w) + bias; bias may be null.
void conv2d_fwd_onednn(void* y, const void* x, const void* w, const void* bias, const Conv2dParams& p,
                       ConvDType dt = ConvDType::f32);
// gx = the gradient with respect to x, given gy.
void conv2d_bwd_data_onednn(void* gx, const void* gy, const void* w, const Conv2dParams& p,
                            ConvDType dt = ConvDType::f32);
// gw = the gradient with respect to w (overwritten, not accumulated). bf16 shapes that
// conv2d_wgrad_gemm_fits run as one GEMM (conv_wgrad_gemm.h) instead of oneDNN's kernel.
void conv2d_bwd_filter_onednn(void* gw, const void* gy, const void* x, const Conv2dParams& p,
                              ConvDType dt = ConvDType::f32);

// The primitive cache, for tests: its number of entries, and an identity of the entry
// for one shape (null when that shape has not been run). The forward key includes
// whether a bias is added.
size_t conv2d_onednn_cache_size();
const void* conv2d_onednn_cached(ConvDirection dir, const Conv2dParams& p, bool bias = false,
                                 ConvDType dt = ConvDType::f32);

}  // namespace engine::kernels
