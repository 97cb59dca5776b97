#pragma once
// f32 2-D convolutions through oneDNN (libdnnl), the CPU counterpart of cuDNN: forward,
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

bool conv2d_onednn_built();

// y = conv(x, w) + bias; bias may be null.
void conv2d_fwd_onednn(float* y, const float* x, const float* w, const float* bias, const Conv2dParams& p);
// gx = the gradient with respect to x, given gy.
void conv2d_bwd_data_onednn(float* gx, const float* gy, const float* w, const Conv2dParams& p);
// gw = the gradient with respect to w (overwritten, not accumulated).
void conv2d_bwd_filter_onednn(float* gw, const float* gy, const float* x, const Conv2dParams& p);

// The primitive cache, for tests: its number of entries, and an identity of the entry
// for one shape (null when that shape has not been run). The forward key includes
// whether a bias is added.
size_t conv2d_onednn_cache_size();
const void* conv2d_onednn_cached(ConvDirection dir, const Conv2dParams& p, bool bias = false);

}  // namespace engine::kernels
