#include <climits>
#include <type_traits>

#include "base/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/launch.cuh"
#include "kernels/cuda/libs.h"

namespace engine::kernels {
namespace {

template <class T>
constexpr cudaDataType_t cuda_type();
template <>
constexpr cudaDataType_t cuda_type<float>() {
  return CUDA_R_32F;
}
template <>
constexpr cudaDataType_t cuda_type<double>() {
  return CUDA_R_64F;
}
template <>
constexpr cudaDataType_t cuda_type<bf16_t>() {
  return CUDA_R_16BF;
}
template <>
constexpr cudaDataType_t cuda_type<f16_t>() {
  return CUDA_R_16F;
}

int to_int(int64_t v, const char* what) {
  ENGINE_CHECK(v >= 0 && v <= INT_MAX, "GEMM " << what << " = " << v << " does not fit the 32-bit int cuBLAS takes");
  return int(v);
}

template <class T>
__global__ void broadcast_rows_kernel(T* y, const T* bias, int64_t rows, int64_t cols) {
  ENGINE_GRID_STRIDE(i, rows * cols) { y[i] = bias[i % cols]; }
}

}  // namespace

template <class T>
void gemm_cuda(cublasHandle_t handle, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* a,
               int64_t lda, int64_t stride_a, const T* b, int64_t ldb, int64_t stride_b, double beta, T* c, int64_t ldc,
               int64_t stride_c, int64_t batch, bool tf32, cudaStream_t stream) {
  if (M == 0 || N == 0 || batch == 0) return;
  if (K == 0) {
    // op(a) op(b) is empty: c = beta * c, which for beta == 0 is zero (cuBLAS needs k >= 1 here).
    ENGINE_CHECK(beta == 0.0, "gemm_cuda: K == 0 with beta != 0 is not supported");
    for (int64_t i = 0; i < batch; ++i)
      ENGINE_CUDA_CHECK(
          cudaMemset2DAsync(c + i * stride_c, size_t(ldc) * sizeof(T), 0, size_t(N) * sizeof(T), size_t(M), stream));
    return;
  }
  // Column-major cuBLAS sees each row-major matrix as its transpose.
  cublasOperation_t op_first = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_second = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int m = to_int(N, "N"), n = to_int(M, "M"), k = to_int(K, "K"), count = to_int(batch, "batch");
  const int ld_first = to_int(ldb, "ldb"), ld_second = to_int(lda, "lda"), ld_c = to_int(ldc, "ldc");
  const cudaDataType_t type = cuda_type<T>();
  if constexpr (std::is_same_v<T, double>) {
    const double alpha = 1.0;
    ENGINE_CUBLAS_CHECK(cublasGemmStridedBatchedEx(handle, op_first, op_second, m, n, k, &alpha, b, type, ld_first,
                                                   stride_b, a, type, ld_second, stride_a, &beta, c, type, ld_c,
                                                   stride_c, count, CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT));
  } else {
    const float alpha = 1.0f, beta_f = float(beta);
    cublasComputeType_t compute = std::is_same_v<T, float> && tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    ENGINE_CUBLAS_CHECK(cublasGemmStridedBatchedEx(handle, op_first, op_second, m, n, k, &alpha, b, type, ld_first,
                                                   stride_b, a, type, ld_second, stride_a, &beta_f, c, type, ld_c,
                                                   stride_c, count, compute, CUBLAS_GEMM_DEFAULT));
  }
}

template <class T>
void matmul_fwd_cuda(cublasHandle_t handle, T* c, const T* a, const T* b, const MatmulParams& p, bool tf32,
                     cudaStream_t stream) {
  gemm_cuda<T>(handle, p.trans_a, p.trans_b, p.M, p.N, p.K, a, p.lda, p.stride_a, b, p.ldb, p.stride_b, 0.0, c, p.N,
               p.M * p.N, p.batch, tf32, stream);
}

template <class T>
void linear_fwd_cuda(cublasHandle_t handle, T* y, const T* x, const T* w, const T* bias, int64_t N, int64_t in,
                     int64_t out, bool tf32, cudaStream_t stream) {
  if (N == 0 || out == 0) return;
  double beta = 0.0;
  if (bias) {
    ENGINE_LAUNCH(grid_for(N * out), kBlock, 0, stream, broadcast_rows_kernel<T>)(y, bias, N, out);
    ENGINE_CUDA_LAUNCH_CHECK("broadcast_rows_kernel");
    beta = 1.0;
  }
  if (in == 0) {
    if (!bias) ENGINE_CUDA_CHECK(cudaMemsetAsync(y, 0, size_t(N * out) * sizeof(T), stream));
    return;
  }
  gemm_cuda<T>(handle, false, true, N, out, in, x, in, 0, w, in, 0, beta, y, out, 0, 1, tf32, stream);
}

#define INSTANTIATE(T)                                                                                                \
  template void gemm_cuda<T>(cublasHandle_t, bool, bool, int64_t, int64_t, int64_t, const T*, int64_t, int64_t,       \
                             const T*, int64_t, int64_t, double, T*, int64_t, int64_t, int64_t, bool, cudaStream_t);  \
  template void matmul_fwd_cuda<T>(cublasHandle_t, T*, const T*, const T*, const MatmulParams&, bool, cudaStream_t);  \
  template void linear_fwd_cuda<T>(cublasHandle_t, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, bool, \
                                   cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(double)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
