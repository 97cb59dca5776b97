#pragma once
// GEMM through cuBLAS (the twins of kernels/cpu/linalg.h). Row-major operands are
// handed to column-major cuBLAS as their transposes: C^T = op(B)^T op(A)^T. f32, f64,
// bf16 and f16; bf16/f16 accumulate in f32; f32 uses TF32 tensor cores only when
// `tf32` is set.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

// Row-major c[i] (M x N, leading dimension ldc, matrix i at c + i * stride_c) =
// op(a[i]) * op(b[i]) + beta * c[i], for i < batch; see MatmulParams for a and b.
template <class T>
void gemm_cuda(cublasHandle_t handle, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* a,
               int64_t lda, int64_t stride_a, const T* b, int64_t ldb, int64_t stride_b, double beta, T* c, int64_t ldc,
               int64_t stride_c, int64_t batch, bool tf32, cudaStream_t stream);

// c [batch, M, N] = op(a[i]) * op(b[i]).
template <class T>
void matmul_fwd_cuda(cublasHandle_t handle, T* c, const T* a, const T* b, const MatmulParams& p, bool tf32,
                     cudaStream_t stream);

// y [N, out] = x [N, in] * w [out, in]^T + bias [out]; bias may be null.
template <class T>
void linear_fwd_cuda(cublasHandle_t handle, T* y, const T* x, const T* w, const T* bias, int64_t N, int64_t in,
                     int64_t out, bool tf32, cudaStream_t stream);

}  // namespace engine::kernels
