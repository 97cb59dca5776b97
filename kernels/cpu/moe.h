#pragma once
// CPU reference kernels of the mixture-of-experts family: slot routing (which slots
// each expert keeps, laid out as one expert-contiguous row buffer) and the grouped
// expert GEMMs over that buffer (one cblas GEMM per expert).
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

// Routes the T * k slots of expert_idx [T, k] (each in [0, E)) by expert.
// counts [E] = slots per expert before dropping. With p.drop an expert keeps at most
// p.capacity slots: those of highest priority [T, k] (null: no priority), ties and the
// null case ranked by (j, t), first choices before second ones, earlier tokens first.
// offsets [E + 1] = exclusive scan of the kept counts; the R = offsets[E] kept slots
// fill rows [0, R) of row_token/row_slot/row_expert [T * k], expert by expert and in
// ascending slot order within an expert; the dropped slots fill rows [R, T * k) in
// ascending slot order (row_expert = the expert they chose).
template <class P>
void moe_route_fwd_cpu(int64_t* row_token, int64_t* row_slot, int64_t* row_expert, int64_t* offsets, int64_t* counts,
                       const int64_t* expert_idx, const P* priority, const MoeRouteParams& p);

// The grouped GEMMs take T = float, double, or uint16_t for bf16 bits (linalg.h's
// gemm_overwrite: oneDNN, when gemm_bf16_native()).
// y [R, Cout]: rows of expert e = x rows [R, Cin] of expert e times w[e] [Cin, Cout];
// rows from offsets[E] on are zero. offsets must start at 0, never decrease and end <= R.
template <class T>
void moe_grouped_matmul_fwd_cpu(T* y, const T* x, const T* w, const int64_t* offsets, const MoeGroupedMatmulParams& p);
// gx [R, Cin] = gy rows times w[e]^T (zero from offsets[E] on).
template <class T>
void moe_grouped_matmul_bwd_data_cpu(T* gx, const T* gy, const T* w, const int64_t* offsets,
                                     const MoeGroupedMatmulParams& p);
// gw [E, Cin, Cout]: gw[e] = x_e^T gy_e (zero for an expert without rows).
template <class T>
void moe_grouped_matmul_bwd_weight_cpu(T* gw, const T* x, const T* gy, const int64_t* offsets,
                                       const MoeGroupedMatmulParams& p);

}  // namespace engine::kernels
