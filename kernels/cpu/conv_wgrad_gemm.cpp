#include "kernels/cpu/conv_wgrad_gemm.h"

#include <cstring>
#include <vector>

#include "kernels/cpu/convert.h"
#include "kernels/cpu/gemm_bf16.h"

namespace engine::kernels {
namespace {

// rows [N*P*Q, R*S*C]: row (n, p, q) holds x[n, p*sh - ph + r*dh, q*sw - pw + s*dw, :] for
// every (r, s) in order, zeros where the tap falls in the padding.
void gather_patches(uint16_t* rows, const uint16_t* x, const Conv2dParams& p) {
  const int64_t PQ = p.P * p.Q, width = p.R * p.S * p.C;
  const size_t bytes = size_t(p.C) * sizeof(uint16_t);
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < p.N * PQ; ++row) {
    const int64_t n = row / PQ, oh = row % PQ / p.Q, ow = row % p.Q;
    uint16_t* out = rows + row * width;
    for (int64_t r = 0; r < p.R; ++r) {
      const int64_t h = oh * p.stride_h - p.pad_h + r * p.dil_h;
      for (int64_t s = 0; s < p.S; ++s, out += p.C) {
        const int64_t w = ow * p.stride_w - p.pad_w + s * p.dil_w;
        if (h < 0 || h >= p.H || w < 0 || w >= p.W)
          std::memset(out, 0, bytes);
        else
          std::memcpy(out, x + ((n * p.H + h) * p.W + w) * p.C, bytes);
      }
    }
  }
}

}  // namespace

bool conv2d_wgrad_gemm_fits(const Conv2dParams& p) {
  return p.channels_last && p.groups == 1 && p.P * p.Q <= 16 && p.N * p.P * p.Q > 0 && gemm_bf16_native();
}

void conv2d_bwd_filter_bf16_gemm(uint16_t* gw, const uint16_t* gy, const uint16_t* x, const Conv2dParams& p) {
  const int64_t rows = p.N * p.P * p.Q, RS = p.R * p.S, width = RS * p.C;
  // Kept between calls: no allocation (or page faults) per step.
  thread_local std::vector<uint16_t> patches;
  thread_local std::vector<float> acc;
  patches.resize(size_t(rows * width));
  acc.resize(size_t(p.K * width));
  gather_patches(patches.data(), x, p);
  gemm_bf16_f32(/*trans_a=*/true, /*trans_b=*/false, p.K, width, rows, gy, p.K, patches.data(), width, acc.data(),
                width);
  const float* sums = acc.data();  // thread_local: the team's threads see the pointer only
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < p.K; ++k) {
    thread_local std::vector<uint16_t> rounded;  // one filter's [R*S, C], rounded; each thread's own
    rounded.resize(size_t(width));
    f32_to_bf16_serial(rounded.data(), sums + k * width, width);
    uint16_t* g = gw + k * p.C * RS;
    for (int64_t rs = 0; rs < RS; ++rs) {
      const uint16_t* from = rounded.data() + rs * p.C;
      for (int64_t c = 0; c < p.C; ++c) g[c * RS + rs] = from[c];
    }
  }
}

}  // namespace engine::kernels
