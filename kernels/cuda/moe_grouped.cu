// The grouped expert GEMMs through cuBLAS's grouped batched GEMM (kernels/cuda/moe.h).
// Row-major operands go to column-major cuBLAS as their transposes (see gemm.h):
//   forward      y_e^T [Cout, n_e]  = w_e^T (N: w_e as [Cout, Cin], ld Cout) * x_e^T [Cin, n_e]
//   backward-data gx_e^T [Cin, n_e] = (T: w_e) * gy_e^T [Cout, n_e]
//   backward-weight gw_e^T [Cout, Cin] = gy_e^T [Cout, n_e] * (T: x_e^T, ld Cin)
#include <climits>
#include <type_traits>
#include <vector>

#include "base/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/libs.h"
#include "kernels/cuda/moe.h"

namespace engine::kernels {
namespace {

template <class T>
cudaDataType_t grouped_type();
template <>
cudaDataType_t grouped_type<float>() {
  return CUDA_R_32F;
}
template <>
cudaDataType_t grouped_type<bf16_t>() {
  return CUDA_R_16BF;
}
template <>
cudaDataType_t grouped_type<f16_t>() {
  return CUDA_R_16F;
}

int as_int(int64_t v, const char* what) {
  ENGINE_CHECK(v >= 0 && v <= INT_MAX,
               "moe grouped GEMM: " << what << " = " << v << " does not fit the 32-bit int cuBLAS takes");
  return int(v);
}

// The groups of one call: one GEMM per expert that has rows.
struct Groups {
  std::vector<cublasOperation_t> ta, tb;
  std::vector<int> m, n, k, lda, ldb, ldc, size;
  std::vector<float> alpha, beta;
  std::vector<const void*> a, b;
  std::vector<void*> c;

  void add(cublasOperation_t opa, cublasOperation_t opb, int64_t M, int64_t N, int64_t K, const void* A, int64_t la,
           const void* B, int64_t lb, void* C, int64_t lc) {
    ta.push_back(opa);
    tb.push_back(opb);
    m.push_back(as_int(M, "m"));
    n.push_back(as_int(N, "n"));
    k.push_back(as_int(K, "k"));
    lda.push_back(as_int(la, "lda"));
    ldb.push_back(as_int(lb, "ldb"));
    ldc.push_back(as_int(lc, "ldc"));
    size.push_back(1);
    alpha.push_back(1.0f);
    beta.push_back(0.0f);
    a.push_back(A);
    b.push_back(B);
    c.push_back(C);
  }

  template <class T>
  void run(cublasHandle_t handle, void* scratch, bool tf32, cudaStream_t stream) {
    const size_t G = m.size();
    if (G == 0) return;
    // cublasSetStream would also reset the handle's workspace to cuBLAS's default pool
    // (the runtime gives each handle its own, allocated once, which graph captures rely
    // on), so the handle must already run on the op's stream.
    cudaStream_t bound = nullptr;
    ENGINE_CUBLAS_CHECK(cublasGetStream(handle, &bound));
    ENGINE_CHECK(bound == stream, "moe grouped GEMM: the cuBLAS handle runs on another stream than the op's");
    // The pointer arrays must live on the device: [A..., B..., C...] in one copy. The
    // host vector may go when the call returns: a copy from pageable memory has been
    // staged by then.
    std::vector<const void*> ptrs(a);
    ptrs.insert(ptrs.end(), b.begin(), b.end());
    ptrs.insert(ptrs.end(), c.begin(), c.end());
    ENGINE_CUDA_CHECK(
        cudaMemcpyAsync(scratch, ptrs.data(), ptrs.size() * sizeof(void*), cudaMemcpyHostToDevice, stream));
    auto dptr = static_cast<const void**>(scratch);
    const cublasComputeType_t compute =
        std::is_same<T, float>::value && tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    ENGINE_CUBLAS_CHECK(cublasGemmGroupedBatchedEx(
        handle, ta.data(), tb.data(), m.data(), n.data(), k.data(), alpha.data(), dptr, grouped_type<T>(), lda.data(),
        dptr + G, grouped_type<T>(), ldb.data(), beta.data(), const_cast<void**>(dptr + 2 * G), grouped_type<T>(),
        ldc.data(), int(G), size.data(), compute));
  }
};

void check_host_offsets(const int64_t* off, const MoeGroupedMatmulParams& p) {
  ENGINE_CHECK(off[0] == 0, "op moe_grouped_matmul: offsets[0] = " << off[0] << ", expected 0");
  for (int64_t e = 0; e < p.E; ++e)
    ENGINE_CHECK(off[e + 1] >= off[e] && off[e + 1] <= p.R, "op moe_grouped_matmul: offsets["
                                                                << e + 1 << "] = " << off[e + 1] << " after " << off[e]
                                                                << " with " << p.R << " rows");
}

template <class T>
void zero_rows_from(T* y, int64_t from, int64_t R, int64_t width, cudaStream_t stream) {
  if (from < R) ENGINE_CUDA_CHECK(cudaMemsetAsync(y + from * width, 0, size_t((R - from) * width) * sizeof(T), stream));
}

}  // namespace

size_t moe_grouped_cublas_scratch_bytes(const MoeGroupedMatmulParams& p) { return size_t(3 * p.E) * sizeof(void*); }

template <class T>
void moe_grouped_matmul_fwd_cublas(cublasHandle_t handle, T* y, const T* x, const T* w, const int64_t* off,
                                   const MoeGroupedMatmulParams& p, void* scratch, bool tf32, cudaStream_t stream) {
  check_host_offsets(off, p);
  Groups g;
  for (int64_t e = 0; e < p.E; ++e) {
    const int64_t rows = off[e + 1] - off[e];
    if (rows == 0 || p.Cout == 0) continue;
    g.add(CUBLAS_OP_N, CUBLAS_OP_N, p.Cout, rows, p.Cin, w + e * p.Cin * p.Cout, p.Cout, x + off[e] * p.Cin, p.Cin,
          y + off[e] * p.Cout, p.Cout);
  }
  if (p.Cin == 0) {
    zero_rows_from(y, 0, p.R, p.Cout, stream);
    return;
  }
  g.run<T>(handle, scratch, tf32, stream);
  zero_rows_from(y, off[p.E], p.R, p.Cout, stream);
}

template <class T>
void moe_grouped_matmul_bwd_data_cublas(cublasHandle_t handle, T* gx, const T* gy, const T* w, const int64_t* off,
                                        const MoeGroupedMatmulParams& p, void* scratch, bool tf32,
                                        cudaStream_t stream) {
  check_host_offsets(off, p);
  Groups g;
  for (int64_t e = 0; e < p.E; ++e) {
    const int64_t rows = off[e + 1] - off[e];
    if (rows == 0 || p.Cin == 0) continue;
    g.add(CUBLAS_OP_T, CUBLAS_OP_N, p.Cin, rows, p.Cout, w + e * p.Cin * p.Cout, p.Cout, gy + off[e] * p.Cout, p.Cout,
          gx + off[e] * p.Cin, p.Cin);
  }
  if (p.Cout == 0) {
    zero_rows_from(gx, 0, p.R, p.Cin, stream);
    return;
  }
  g.run<T>(handle, scratch, tf32, stream);
  zero_rows_from(gx, off[p.E], p.R, p.Cin, stream);
}

template <class T>
void moe_grouped_matmul_bwd_weight_cublas(cublasHandle_t handle, T* gw, const T* x, const T* gy, const int64_t* off,
                                          const MoeGroupedMatmulParams& p, void* scratch, bool tf32,
                                          cudaStream_t stream) {
  check_host_offsets(off, p);
  Groups g;
  bool empty_expert = false;
  for (int64_t e = 0; e < p.E; ++e) {
    const int64_t rows = off[e + 1] - off[e];
    if (rows == 0) {
      empty_expert = true;
      continue;
    }
    g.add(CUBLAS_OP_N, CUBLAS_OP_T, p.Cout, p.Cin, rows, gy + off[e] * p.Cout, p.Cout, x + off[e] * p.Cin, p.Cin,
          gw + e * p.Cin * p.Cout, p.Cout);
  }
  if (p.Cin * p.Cout == 0) return;
  // Experts without rows keep the zeros; the others are overwritten (beta = 0).
  if (empty_expert) ENGINE_CUDA_CHECK(cudaMemsetAsync(gw, 0, size_t(p.E * p.Cin * p.Cout) * sizeof(T), stream));
  g.run<T>(handle, scratch, tf32, stream);
}

#define INSTANTIATE(T)                                                                                           \
  template void moe_grouped_matmul_fwd_cublas<T>(cublasHandle_t, T*, const T*, const T*, const int64_t*,         \
                                                 const MoeGroupedMatmulParams&, void*, bool, cudaStream_t);      \
  template void moe_grouped_matmul_bwd_data_cublas<T>(cublasHandle_t, T*, const T*, const T*, const int64_t*,    \
                                                      const MoeGroupedMatmulParams&, void*, bool, cudaStream_t); \
  template void moe_grouped_matmul_bwd_weight_cublas<T>(cublasHandle_t, T*, const T*, const T*, const int64_t*,  \
                                                        const MoeGroupedMatmulParams&, void*, bool, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(bf16_t)
INSTANTIATE(f16_t)
#undef INSTANTIATE

}  // namespace engine::kernels
