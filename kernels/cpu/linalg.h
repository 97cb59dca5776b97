#pragma once
// CPU reference kernels of the linear-algebra family: GEMM through OpenBLAS (cblas).
#include <cstdint>

#include "base/params.h"

namespace engine::kernels {

// Row-major C (M x N, leading dimension ldc) = alpha * op(A) * op(B) + beta * C.
// op(A) is M x K (A stored K x M when trans_a); op(B) is K x N (stored N x K when trans_b).
// A thin wrapper over cblas_sgemm / cblas_dgemm, shared with the conv kernels.
template <class T>
void gemm_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* a, int64_t lda, const T* b,
              int64_t ldb, T beta, T* c, int64_t ldc);

// C = op(A) * op(B), overwritten: gemm_cpu for f32 and f64, and for bf16 (T = uint16_t,
// raw bits) gemm_bf16 of gemm_bf16.h (oneDNN; callers check gemm_bf16_native()).
template <class T>
void gemm_overwrite(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* a, int64_t lda, const T* b,
                    int64_t ldb, T* c, int64_t ldc);

// c [batch, M, N] = op(a[i]) * op(b[i]) (see MatmulParams). T: float, double, or
// uint16_t for bf16 (as gemm_overwrite).
template <class T>
void matmul_fwd_cpu(T* c, const T* a, const T* b, const MatmulParams& p);

// y [N, out] = x [N, in] * w [out, in]^T + bias [out]; bias may be null. T as for
// matmul_fwd_cpu; bf16 adds the bias to the f32 product and rounds once.
template <class T>
void linear_fwd_cpu(T* y, const T* x, const T* w, const T* bias, int64_t N, int64_t in, int64_t out);

}  // namespace engine::kernels
