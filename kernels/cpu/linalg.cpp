#include "kernels/cpu/linalg.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/cpu/convert.h"
#include "kernels/cpu/gemm_bf16.h"

namespace engine::kernels {
namespace {

// Zero-sized products are legal in the engine; BLAS rejects ld == 0, so clamp.
blasint ld(int64_t v) { return blasint(std::max<int64_t>(v, 1)); }

// Multiply-adds below which a GEMM stays on one thread; blocks are multiples of the
// kernels' register tile.
constexpr int64_t kParallelGemm = int64_t(1) << 18;
constexpr int64_t kGemmAlign = 16;

// An empty inner dimension leaves C = beta * C, which not every BLAS does on its own.
template <class T>
void scale_rows(int64_t M, int64_t N, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
}

// One BLAS call, single-threaded inside BLAS (see gemm_cpu).
void blas_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, blasint(M), blasint(N),
              blasint(K), alpha, a, ld(lda), b, ld(ldb), beta, c, ld(ldc));
}

void blas_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* a, int64_t lda,
               const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, blasint(M), blasint(N),
              blasint(K), alpha, a, ld(lda), b, ld(ldb), beta, c, ld(ldc));
}

// BLAS runs single-threaded; the engine's OpenMP threads share out the blocks of C.
// One pool of threads for the whole process: BLAS threads and OpenMP threads waiting
// for work would otherwise spin against each other on the same cores.
int gemm_threads(int64_t M, int64_t N, int64_t K) {
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
  if (omp_in_parallel() || M * N * K < kParallelGemm) return 1;
  return omp_get_max_threads();
}

}  // namespace

// Blocks of rows of C (or of columns, when C is wide), each one BLAS call; a block's
// elements see the same products in the same order as in one call over all of C.
template <class T>
void gemm_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* a, int64_t lda, const T* b,
              int64_t ldb, T beta, T* c, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_rows(M, N, beta, c, ldc);
  const int nt = gemm_threads(M, N, K);
  if (nt <= 1) return blas_gemm(trans_a, trans_b, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
  const bool by_rows = M >= N;
  const int64_t len = by_rows ? M : N, step = (len / nt + kGemmAlign - 1) / kGemmAlign * kGemmAlign;
  const int64_t blocks = (len + step - 1) / step;
#pragma omp parallel for num_threads(nt)
  for (int64_t i = 0; i < blocks; ++i) {
    const int64_t p0 = i * step, n = std::min(step, len - p0);
    if (by_rows) {
      blas_gemm(trans_a, trans_b, n, N, K, alpha, trans_a ? a + p0 : a + p0 * lda, lda, b, ldb, beta, c + p0 * ldc,
                ldc);
    } else {
      blas_gemm(trans_a, trans_b, M, n, K, alpha, a, lda, trans_b ? b + p0 * ldb : b + p0, ldb, beta, c + p0, ldc);
    }
  }
}

template <class T>
void gemm_overwrite(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* a, int64_t lda, const T* b,
                    int64_t ldb, T* c, int64_t ldc) {
  if constexpr (std::is_same_v<T, uint16_t>)
    gemm_bf16(trans_a, trans_b, M, N, K, a, lda, b, ldb, c, ldc);
  else
    gemm_cpu<T>(trans_a, trans_b, M, N, K, T(1), a, lda, b, ldb, T(0), c, ldc);
}

template <class T>
void matmul_fwd_cpu(T* c, const T* a, const T* b, const MatmulParams& p) {
  if (p.batch == 0 || p.M == 0 || p.N == 0) return;
  // A batch of row-major [M, K] matrices stacked back to back times one shared b is a
  // single [batch * M, K] GEMM: one call lets BLAS pick its blocking over the whole batch.
  if (p.batch > 1 && p.stride_b == 0 && !p.trans_a && p.lda == p.K && p.stride_a == p.M * p.K) {
    gemm_overwrite<T>(false, p.trans_b, p.batch * p.M, p.N, p.K, a, p.lda, b, p.ldb, c, p.N);
    return;
  }
  // Each GEMM is threaded inside, so the batch loop stays serial.
  for (int64_t i = 0; i < p.batch; ++i)
    gemm_overwrite<T>(p.trans_a, p.trans_b, p.M, p.N, p.K, a + i * p.stride_a, p.lda, b + i * p.stride_b, p.ldb,
                      c + i * p.M * p.N, p.N);
}

template <class T>
void linear_fwd_cpu(T* y, const T* x, const T* w, const T* bias, int64_t N, int64_t in, int64_t out) {
  if (N == 0 || out == 0) return;
  if constexpr (std::is_same_v<T, uint16_t>) {
    if (!bias) return gemm_bf16(false, true, N, out, in, x, in, w, in, y, out);
    thread_local std::vector<float> acc, b;  // kept between calls: no allocation per op
    acc.resize(size_t(N * out));
    b.resize(size_t(out));
    gemm_bf16_f32(false, true, N, out, in, x, in, w, in, acc.data(), out);
    bf16_to_f32_cpu(b.data(), bias, out);
    // Plain pointers into the calling thread's buffers: a thread_local named inside the
    // parallel loop would be each worker thread's own (empty) vector.
    float* accp = acc.data();
    const float* bp = b.data();
#pragma omp parallel for if (N * out > (int64_t(1) << 15))
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < out; ++j) accp[i * out + j] += bp[j];
    f32_to_bf16_cpu(y, acc.data(), N * out);
  } else {
    T beta = T(0);
    if (bias) {
      for (int64_t i = 0; i < N; ++i) std::copy(bias, bias + out, y + i * out);
      beta = T(1);
    }
    gemm_cpu<T>(false, true, N, out, in, T(1), x, in, w, in, beta, y, out);
  }
}

template void gemm_cpu<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                              int64_t, float, float*, int64_t);
template void gemm_cpu<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                               int64_t, double, double*, int64_t);
template void matmul_fwd_cpu<float>(float*, const float*, const float*, const MatmulParams&);
template void matmul_fwd_cpu<double>(double*, const double*, const double*, const MatmulParams&);
template void linear_fwd_cpu<float>(float*, const float*, const float*, const float*, int64_t, int64_t, int64_t);
template void linear_fwd_cpu<double>(double*, const double*, const double*, const double*, int64_t, int64_t, int64_t);
template void gemm_overwrite<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                                    float*, int64_t);
template void gemm_overwrite<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t, const double*,
                                     int64_t, double*, int64_t);
template void gemm_overwrite<uint16_t>(bool, bool, int64_t, int64_t, int64_t, const uint16_t*, int64_t, const uint16_t*,
                                       int64_t, uint16_t*, int64_t);
template void matmul_fwd_cpu<uint16_t>(uint16_t*, const uint16_t*, const uint16_t*, const MatmulParams&);
template void linear_fwd_cpu<uint16_t>(uint16_t*, const uint16_t*, const uint16_t*, const uint16_t*, int64_t, int64_t,
                                       int64_t);

}  // namespace engine::kernels
