#pragma once
// CUDA twins of kernels/cpu/moe.h: slot routing and the grouped expert GEMMs over the
// expert-contiguous row buffer, with the same results as the CPU kernels (routing
// bit for bit). A bad expert index or bad offsets are reported to `err` (the runtime
// throws at the next synchronisation) and never followed.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "base/params.h"
#include "kernels/cuda/check.h"

namespace engine::kernels {

// The outputs of moe_route_fwd_cpu (same rows, offsets and counts) from device arrays.
// priority: null or [T, k] (float, double). scratch: device scratch of T * k + E + 1
// int64. A slot with an expert index outside [0, E) is reported and routed as dropped.
template <class P>
void moe_route_fwd_cuda(int64_t* row_token, int64_t* row_slot, int64_t* row_expert, int64_t* offsets, int64_t* counts,
                        const int64_t* expert_idx, const P* priority, int64_t* scratch, const MoeRouteParams& p,
                        CudaIndexError* err, cudaStream_t stream);

// The same outputs by sorting: a stable CUB radix sort of the slots by priority (when
// dropping with one), then by expert, ranks each slot within its expert; a second sort
// by (kept ? expert : E) over the slots in ascending order lays out the rows; offsets
// come from a CUB exclusive scan of the kept counts. O(S log S) work over the whole
// device, where moe_route_fwd_cuda places the slots in one block. scratch: device
// memory of moe_route_sort_scratch_bytes(p, priority != null) bytes.
size_t moe_route_sort_scratch_bytes(const MoeRouteParams& p, bool has_priority);
template <class P>
void moe_route_sort_fwd_cuda(int64_t* row_token, int64_t* row_slot, int64_t* row_expert, int64_t* offsets,
                             int64_t* counts, const int64_t* expert_idx, const P* priority, void* scratch,
                             const MoeRouteParams& p, CudaIndexError* err, cudaStream_t stream);

// y [R, Cout], gx [R, Cin], gw [E, Cin, Cout] as in moe_grouped_matmul_*_cpu; offsets
// (device, [E + 1]) must start at 0, never decrease and end <= R, otherwise the
// offending value is reported and the outputs are wrong. Instantiated for float,
// double, bf16_t and f16_t (bf16/f16 accumulate in f32).
template <class T>
void moe_grouped_matmul_fwd_cuda(T* y, const T* x, const T* w, const int64_t* offsets, const MoeGroupedMatmulParams& p,
                                 CudaIndexError* err, cudaStream_t stream);
template <class T>
void moe_grouped_matmul_bwd_data_cuda(T* gx, const T* gy, const T* w, const int64_t* offsets,
                                      const MoeGroupedMatmulParams& p, CudaIndexError* err, cudaStream_t stream);
template <class T>
void moe_grouped_matmul_bwd_weight_cuda(T* gw, const T* x, const T* gy, const int64_t* offsets,
                                        const MoeGroupedMatmulParams& p, CudaIndexError* err, cudaStream_t stream);

// The grouped GEMMs through cublasGemmGroupedBatchedEx (one group per expert with rows,
// f32/bf16/f16 with f32 compute; TF32 tensor cores for f32 only when tf32). The call
// takes each group's m, n and k in host arrays, so these take the offsets on the host
// (offsets_host [E + 1]); the per-group A/B/C pointers go to the device in one async
// copy into `scratch` (moe_grouped_cublas_scratch_bytes). Outputs as the tiled kernels:
// zero rows past offsets[E], zero gw[e] for an expert without rows. The handle must
// already run on `stream` (checked; it is not rebound, which would drop its workspace).
size_t moe_grouped_cublas_scratch_bytes(const MoeGroupedMatmulParams& p);
template <class T>
void moe_grouped_matmul_fwd_cublas(cublasHandle_t handle, T* y, const T* x, const T* w, const int64_t* offsets_host,
                                   const MoeGroupedMatmulParams& p, void* scratch, bool tf32, cudaStream_t stream);
template <class T>
void moe_grouped_matmul_bwd_data_cublas(cublasHandle_t handle, T* gx, const T* gy, const T* w,
                                        const int64_t* offsets_host, const MoeGroupedMatmulParams& p, void* scratch,
                                        bool tf32, cudaStream_t stream);
template <class T>
void moe_grouped_matmul_bwd_weight_cublas(cublasHandle_t handle, T* gw, const T* x, const T* gy,
                                          const int64_t* offsets_host, const MoeGroupedMatmulParams& p, void* scratch,
                                          bool tf32, cudaStream_t stream);

}  // namespace engine::kernels
