#include "kernels/cpu/gemm_bf16.h"

#include <cstring>
#include <vector>

#include "base/check.h"
#include "kernels/cpu/conv_onednn.h"
#include "kernels/cpu/convert.h"

#if ENGINE_HAS_ONEDNN

#include <oneapi/dnnl/dnnl_types.h>

// oneDNN's row-major bf16 x bf16 -> f32 GEMM (its JIT GEMM kernels, the ones its matmul
// primitive runs on): exported by libdnnl 2.x beside dnnl_sgemm, but not declared in its
// headers, hence the declaration here; weak, so that a libdnnl without it leaves the
// pointer null and the bf16 GEMMs on the widened path.
extern "C" dnnl_status_t dnnl_gemm_bf16bf16f32(char transa, char transb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K,
                                               float alpha, const uint16_t* A, dnnl_dim_t lda, const uint16_t* B,
                                               dnnl_dim_t ldb, float beta, float* C, dnnl_dim_t ldc)
    __attribute__((weak));

namespace engine::kernels {

bool gemm_bf16_native() { return dnnl_gemm_bf16bf16f32 != nullptr && conv2d_onednn_bf16_native(); }

void gemm_bf16_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* a, int64_t lda,
                   const uint16_t* b, int64_t ldb, float* c, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // an empty sum
    for (int64_t i = 0; i < M; ++i) std::memset(c + i * ldc, 0, size_t(N) * sizeof(float));
    return;
  }
  ENGINE_CHECK(dnnl_gemm_bf16bf16f32 != nullptr, "this libdnnl has no dnnl_gemm_bf16bf16f32: bf16 GEMMs are widened");
  const dnnl_status_t st =
      dnnl_gemm_bf16bf16f32(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
  ENGINE_CHECK(st == dnnl_success, "oneDNN bf16 GEMM (" << M << " x " << N << " x " << K << ", trans " << trans_a
                                                        << trans_b << ") failed with status " << int(st));
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* a, int64_t lda,
               const uint16_t* b, int64_t ldb, uint16_t* c, int64_t ldc) {
  if (M == 0 || N == 0) return;
  thread_local std::vector<float> acc;  // kept between calls: no allocation per op
  acc.resize(size_t(M * N));
  gemm_bf16_f32(trans_a, trans_b, M, N, K, a, lda, b, ldb, acc.data(), N);
  for (int64_t i = 0; i < M; ++i) f32_to_bf16_cpu(c + i * ldc, acc.data() + i * N, N);
}

}  // namespace engine::kernels

#else  // no oneDNN: bf16 GEMMs take the widened path of lowp.h

namespace engine::kernels {

bool gemm_bf16_native() { return false; }
void gemm_bf16(bool, bool, int64_t, int64_t, int64_t, const uint16_t*, int64_t, const uint16_t*, int64_t, uint16_t*,
               int64_t) {
  ENGINE_THROW("this build has no oneDNN: bf16 GEMMs take the widened f32 path");
}
void gemm_bf16_f32(bool, bool, int64_t, int64_t, int64_t, const uint16_t*, int64_t, const uint16_t*, int64_t, float*,
                   int64_t) {
  ENGINE_THROW("this build has no oneDNN: bf16 GEMMs take the widened f32 path");
}

}  // namespace engine::kernels

#endif
