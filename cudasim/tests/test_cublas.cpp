// The simulated cuBLAS against naive column-major loops in double, and every check it
// makes: argument errors with cuBLAS's status and a report, device faults for memory a
// GPU could not reach, the workspace marker. Inputs are multiples of 1/8 in [-2, 2], so
// every product and sum is exact in f32 and results can be compared exactly (after the
// one rounding to the output type), which catches any indexing slip.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cudasim/cudasim.h"
#include "sim_test.h"

namespace {

using namespace simtest;

simtest::Num num_of(cudaDataType_t t) {
  return t == CUDA_R_64F ? Num::f64 : t == CUDA_R_32F ? Num::f32 : t == CUDA_R_16F ? Num::f16 : Num::bf16;
}
std::vector<unsigned char> encode(const std::vector<double>& v, cudaDataType_t t) { return encode_num(v, num_of(t)); }
std::vector<double> decode(const std::vector<unsigned char>& b, cudaDataType_t t) { return decode_num(b, num_of(t)); }
std::vector<double> round_to(const std::vector<double>& v, cudaDataType_t t) { return decode(encode(v, t), t); }

// A device buffer holding values of one type.
struct Dev : DevBuf {
  Dev(const std::vector<double>& v, cudaDataType_t type) : DevBuf(v, num_of(type)) {}
};

double op_at(const std::vector<double>& a, size_t off, cublasOperation_t op, int ld, int i, int p) {
  return op == CUBLAS_OP_N ? a[off + size_t(i) + size_t(p) * ld] : a[off + size_t(p) + size_t(i) * ld];
}

struct Handle {
  cublasHandle_t h = nullptr;
  Handle() { REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS); }
  ~Handle() { cublasDestroy(h); }
};

}  // namespace

TEST_CASE("cublasGemmStridedBatchedEx matches a column-major reference", "[cudasim]") {
  Fresh fresh;
  Handle h;
  struct Types {
    cudaDataType_t ab, c;
    cublasComputeType_t compute;
  };
  const Types types[] = {
      {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F},         {CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F},
      {CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F},         {CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F},
      {CUDA_R_16F, CUDA_R_32F, CUBLAS_COMPUTE_32F},         {CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F},
      {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_PEDANTIC}};
  const int shapes[][3] = {{1, 1, 1}, {5, 7, 3}, {67, 33, 129}, {3, 130, 70}, {9, 4, 300}};
  const cublasOperation_t ops[] = {CUBLAS_OP_N, CUBLAS_OP_T};
  std::mt19937 rng(7);
  const int batch = 2;
  const double sentinel = 7.0;  // outside the m x n matrices C must stay untouched
  for (const Types& ty : types)
    for (const auto& s : shapes)
      for (cublasOperation_t ta : ops)
        for (cublasOperation_t tb : ops)
          for (double beta : {0.0, -0.5}) {
            const int m = s[0], n = s[1], k = s[2];
            const int ra = ta == CUBLAS_OP_N ? m : k, ca = ta == CUBLAS_OP_N ? k : m;
            const int rb = tb == CUBLAS_OP_N ? k : n, cb = tb == CUBLAS_OP_N ? n : k;
            const int lda = ra + 3, ldb = rb + 1, ldc = m + 2;
            const long long sa = (long long)lda * ca + 5, sb = (long long)ldb * cb + 2, sc = (long long)ldc * n + 3;
            auto A = grid_values(size_t(sa * batch), rng), B = grid_values(size_t(sb * batch), rng);
            std::vector<double> C(size_t(sc * batch), sentinel), want = C;
            const double alpha = 1.5;
            for (int b = 0; b < batch; ++b)
              for (int j = 0; j < n; ++j)
                for (int i = 0; i < m; ++i) {
                  const size_t ci = size_t(b * sc + i + j * ldc);
                  C[ci] = beta == 0 ? NAN : (int(rng() % 17) - 8) / 4.0;  // beta == 0: C is not read
                  double sum = 0;
                  for (int p = 0; p < k; ++p)
                    sum += op_at(A, size_t(b * sa), ta, lda, i, p) * op_at(B, size_t(b * sb), tb, ldb, p, j);
                  want[ci] = alpha * sum + (beta == 0 ? 0.0 : beta * C[ci]);
                }
            Dev dA(A, ty.ab), dB(B, ty.ab), dC(C, ty.c);
            const float af = float(alpha), bf = float(beta);
            const void* pa = ty.c == CUDA_R_64F ? static_cast<const void*>(&alpha) : &af;
            const void* pb = ty.c == CUDA_R_64F ? static_cast<const void*>(&beta) : &bf;
            INFO("types " << ty.ab << "/" << ty.c << " compute " << ty.compute << ", m n k " << m << " " << n << " "
                          << k << ", ops " << ta << tb << ", beta " << beta);
            REQUIRE(cublasGemmStridedBatchedEx(h.h, ta, tb, m, n, k, pa, dA.p, ty.ab, lda, sa, dB.p, ty.ab, ldb, sb, pb,
                                               dC.p, ty.c, ldc, sc, batch, ty.compute,
                                               CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
            REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
            CHECK(mismatches(dC.get(), round_to(want, ty.c)) == 0);
          }
}

TEST_CASE("cuBLAS f32 GEMM on random data stays within f32 accumulation error", "[cudasim]") {
  Fresh fresh;
  Handle h;
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  const int m = 50, n = 41, k = 777;
  std::vector<double> A(size_t(m * k)), B(size_t(k * n));
  for (auto& x : A) x = float(u(rng));
  for (auto& x : B) x = float(u(rng));
  Dev dA(A, CUDA_R_32F), dB(B, CUDA_R_32F), dC(std::vector<double>(size_t(m * n), 0.0), CUDA_R_32F);
  const float one = 1, zero = 0;
  REQUIRE(cublasGemmEx(h.h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, dA.p, CUDA_R_32F, k, dB.p, CUDA_R_32F, k, &zero,
                       dC.p, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
  const auto C = dC.get();
  double worst = 0;
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double sum = 0, mag = 0;
      for (int p = 0; p < k; ++p) {
        sum += A[size_t(p + i * k)] * B[size_t(p + j * k)];
        mag += std::fabs(A[size_t(p + i * k)] * B[size_t(p + j * k)]);
      }
      worst = std::max(worst, std::fabs(C[size_t(i + j * m)] - sum) / (k * 0x1p-24 * mag));
    }
  CHECK(worst <= 1.0);  // the sequential f32 summation bound
  CHECK(worst > 0.0);   // and it really summed in f32, not in double
}

TEST_CASE("cuBLAS TF32 compute rounds f32 inputs to TF32, plain and pedantic f32 do not", "[cudasim]") {
  Fresh fresh;
  Handle h;
  // 1 + 2^-12 is below half a TF32 ulp (2^-10) above 1; 1 + 2^-11 is the tie (rounds
  // away); 1 + 3 * 2^-12 rounds up.
  const std::vector<double> a = {1 + 0x1p-12, 1 + 0x1p-11, 1 + 3 * 0x1p-12};
  Dev dA(a, CUDA_R_32F), dB({1.0}, CUDA_R_32F), dC({0, 0, 0}, CUDA_R_32F);
  const float one = 1, zero = 0;
  auto run = [&](cublasComputeType_t compute) {
    REQUIRE(cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, 3, 1, 1, &one, dA.p, CUDA_R_32F, 3, dB.p, CUDA_R_32F, 1, &zero,
                         dC.p, CUDA_R_32F, 3, compute, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
    return dC.get();
  };
  const std::vector<double> tf32 = {1.0, 1 + 0x1p-10, 1 + 0x1p-10};
  CHECK(run(CUBLAS_COMPUTE_32F_FAST_TF32) == tf32);
  CHECK(run(CUBLAS_COMPUTE_32F) == a);
  REQUIRE(cublasSetMathMode(h.h, CUBLAS_TF32_TENSOR_OP_MATH) == CUBLAS_STATUS_SUCCESS);
  cublasMath_t mode;
  REQUIRE(cublasGetMathMode(h.h, &mode) == CUBLAS_STATUS_SUCCESS);
  CHECK(mode == CUBLAS_TF32_TENSOR_OP_MATH);
  CHECK(run(CUBLAS_COMPUTE_32F) == tf32);
  CHECK(run(CUBLAS_COMPUTE_32F_PEDANTIC) == a);
}

TEST_CASE("cuBLAS with k = 0 or alpha = 0 scales C by beta without reading A and B", "[cudasim]") {
  Fresh fresh;
  Handle h;
  Dev dA({NAN, NAN, NAN, NAN}, CUDA_R_32F), dC({1, 2, 3, 4}, CUDA_R_32F);
  const float zero = 0, half = 0.5f, one = 1;
  // k = 0: A and B may even be NULL.
  REQUIRE(cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 0, &one, nullptr, CUDA_R_32F, 2, nullptr, CUDA_R_32F, 1,
                       &half, dC.p, CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
  CHECK(dC.get() == std::vector<double>{0.5, 1, 1.5, 2});
  // alpha = 0: NaN in A and B does not reach C.
  REQUIRE(cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &zero, dA.p, CUDA_R_32F, 2, dA.p, CUDA_R_32F, 2, &half,
                       dC.p, CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
  CHECK(dC.get() == std::vector<double>{0.25, 0.5, 0.75, 1});
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
}

namespace {

// One grouped call: per group transa, transb, m, n, k, alpha, beta and a group size.
struct Group {
  cublasOperation_t ta, tb;
  int m, n, k;
  float alpha, beta;
  int size;
};

}  // namespace

TEST_CASE("cublasGemmGroupedBatchedEx reads its pointer arrays from device memory", "[cudasim]") {
  Fresh fresh;
  Handle h;
  const std::vector<Group> groups = {{CUBLAS_OP_N, CUBLAS_OP_N, 5, 3, 4, 1.0f, 0.0f, 2},
                                     {CUBLAS_OP_T, CUBLAS_OP_N, 7, 6, 9, 0.5f, 0.0f, 1},
                                     {CUBLAS_OP_N, CUBLAS_OP_T, 4, 8, 3, 2.0f, -1.0f, 0},
                                     {CUBLAS_OP_N, CUBLAS_OP_T, 66, 5, 70, 1.0f, 0.5f, 3}};
  std::mt19937 rng(11);
  for (cudaDataType_t t : {CUDA_R_32F, CUDA_R_16BF, CUDA_R_16F}) {
    INFO("type " << t);
    std::vector<cublasOperation_t> ta, tb;
    std::vector<int> m, n, k, lda, ldb, ldc, size;
    std::vector<float> alpha, beta;
    std::vector<std::unique_ptr<Dev>> bufs;
    std::vector<void*> ptrs[3];
    std::vector<std::vector<double>> want;
    for (const Group& g : groups) {
      ta.push_back(g.ta), tb.push_back(g.tb), m.push_back(g.m), n.push_back(g.n), k.push_back(g.k);
      const int ra = g.ta == CUBLAS_OP_N ? g.m : g.k, rb = g.tb == CUBLAS_OP_N ? g.k : g.n;
      lda.push_back(ra + 1), ldb.push_back(rb), ldc.push_back(g.m + 3), size.push_back(g.size);
      alpha.push_back(g.alpha), beta.push_back(g.beta);
      for (int p = 0; p < g.size; ++p) {
        auto A = grid_values(size_t(lda.back() * (g.ta == CUBLAS_OP_N ? g.k : g.m)), rng);
        auto B = grid_values(size_t(ldb.back() * (g.tb == CUBLAS_OP_N ? g.n : g.k)), rng);
        auto C = grid_values(size_t(ldc.back() * g.n), rng), W = C;
        for (int j = 0; j < g.n; ++j)
          for (int i = 0; i < g.m; ++i) {
            double sum = 0;
            for (int q = 0; q < g.k; ++q)
              sum += op_at(A, 0, g.ta, lda.back(), i, q) * op_at(B, 0, g.tb, ldb.back(), q, j);
            W[size_t(i + j * ldc.back())] = g.alpha * sum + g.beta * C[size_t(i + j * ldc.back())];
          }
        bufs.push_back(std::make_unique<Dev>(A, t));
        ptrs[0].push_back(bufs.back()->p);
        bufs.push_back(std::make_unique<Dev>(B, t));
        ptrs[1].push_back(bufs.back()->p);
        bufs.push_back(std::make_unique<Dev>(C, t));
        ptrs[2].push_back(bufs.back()->p);
        want.push_back(round_to(W, t));
      }
    }
    // The pointer arrays live on the device, [A..., B..., C...] as moe_grouped.cu lays them out.
    std::vector<void*> all(ptrs[0]);
    all.insert(all.end(), ptrs[1].begin(), ptrs[1].end());
    all.insert(all.end(), ptrs[2].begin(), ptrs[2].end());
    void** dptr = nullptr;
    REQUIRE(cudaMalloc(reinterpret_cast<void**>(&dptr), all.size() * sizeof(void*)) == cudaSuccess);
    REQUIRE(cudaMemcpy(dptr, all.data(), all.size() * sizeof(void*), cudaMemcpyHostToDevice) == cudaSuccess);
    const size_t P = ptrs[0].size();
    REQUIRE(cublasGemmGroupedBatchedEx(h.h, ta.data(), tb.data(), m.data(), n.data(), k.data(), alpha.data(), dptr, t,
                                       lda.data(), dptr + P, t, ldb.data(), beta.data(), dptr + 2 * P, t, ldc.data(),
                                       int(groups.size()), size.data(), CUBLAS_COMPUTE_32F) == CUBLAS_STATUS_SUCCESS);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    for (size_t p = 0; p < P; ++p) {
      INFO("problem " << p);
      CHECK(mismatches(bufs[3 * p + 2]->get(), want[p]) == 0);
    }
    cudaFree(dptr);
  }
}

TEST_CASE("cublasGemmGroupedBatchedEx with pointer arrays in host memory faults like a GPU", "[cudasim]") {
  Fresh fresh;
  Handle h;
  Dev dA({1, 2, 3, 4}, CUDA_R_32F), dB({1, 0, 0, 1}, CUDA_R_32F), dC({0, 0, 0, 0}, CUDA_R_32F);
  const void* a[] = {dA.p};
  const void* b[] = {dB.p};
  void* c[] = {dC.p};
  const cublasOperation_t op = CUBLAS_OP_N;
  const int two = 2, one = 1;
  const float alpha = 1, beta = 0;
  // Host arrays are a valid call; the fault comes when the device reads them.
  CHECK(cublasGemmGroupedBatchedEx(h.h, &op, &op, &two, &two, &two, &alpha, a, CUDA_R_32F, &two, b, CUDA_R_32F, &two,
                                   &beta, c, CUDA_R_32F, &two, 1, &one, CUBLAS_COMPUTE_32F) == CUBLAS_STATUS_SUCCESS);
  CHECK(cudaDeviceSynchronize() == cudaErrorIllegalAddress);
  CHECK(reported("Aarray"));
}

TEST_CASE("cuBLAS argument errors return cuBLAS's status and name the argument", "[cudasim]") {
  Fresh fresh;
  Handle h;
  Dev d(std::vector<double>(64, 1.0), CUDA_R_32F);
  const float one = 1, zero = 0;
  auto gemm = [&](cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, int lda, int ldb, int ldc,
                  int batch = 1, cudaDataType_t at = CUDA_R_32F, cudaDataType_t ct = CUDA_R_32F,
                  cublasComputeType_t compute = CUBLAS_COMPUTE_32F, cublasHandle_t handle = nullptr) {
    return cublasGemmStridedBatchedEx(handle ? handle : h.h, ta, tb, m, n, k, &one, d.p, at, lda, 0, d.p, at, ldb, 0,
                                      &zero, d.p, ct, ldc, 0, batch, compute, CUBLAS_GEMM_DEFAULT);
  };
  const auto N = CUBLAS_OP_N, T = CUBLAS_OP_T;
  CHECK(gemm(N, N, 5, 2, 2, 5, 2, 5) == CUBLAS_STATUS_SUCCESS);
  CHECK(gemm(N, N, 5, 2, 2, 3, 2, 5) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(reported("lda = 3 < max(1, rows of A as stored) = 5"));
  CHECK(gemm(T, N, 5, 2, 4, 3, 4, 5) == CUBLAS_STATUS_INVALID_VALUE);  // op(A) = A^T: A is k x m
  CHECK(reported("lda = 3 < max(1, rows of A as stored) = 4"));
  CHECK(gemm(N, N, 2, 2, 6, 2, 5, 2) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(reported("ldb = 5"));
  CHECK(gemm(N, T, 2, 3, 2, 2, 2, 2) == CUBLAS_STATUS_INVALID_VALUE);  // op(B) = B^T: B is n x k
  CHECK(reported("ldb = 2 < max(1, rows of B as stored) = 3"));
  CHECK(gemm(N, N, 4, 2, 2, 4, 2, 3) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(reported("ldc = 3"));
  CHECK(gemm(N, N, -1, 2, 2, 4, 2, 4) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(reported("m = -1"));
  CHECK(gemm(N, N, 2, 2, -3, 2, 1, 2) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(reported("k = -3"));
  CHECK(gemm(N, N, 2, 2, 2, 2, 2, 2, -1) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(reported("batchCount = -1"));
  CHECK(gemm(CUBLAS_OP_CONJG, N, 2, 2, 2, 2, 2, 2) == CUBLAS_STATUS_INVALID_VALUE);  // "not supported"
  CHECK(reported("transa"));
  CHECK(gemm(N, N, 2, 2, 2, 2, 2, 2, 1, CUDA_R_16F, CUDA_R_64F) == CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK(reported("not a supported combination"));
  CHECK(gemm(N, N, 2, 2, 2, 2, 2, 2, 1, CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F_FAST_TF32) ==
        CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK(gemm(N, N, 2, 2, 2, 2, 2, 2, 1, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_64F) == CUBLAS_STATUS_NOT_SUPPORTED);
  CHECK(cublasGemmEx(h.h, N, N, 2, 2, 2, nullptr, d.p, CUDA_R_32F, 2, d.p, CUDA_R_32F, 2, &zero, d.p, CUDA_R_32F, 2,
                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(reported("alpha is NULL"));

  // Grouped: the rules per group, named by index.
  const cublasOperation_t ops[] = {N, N};
  const int m[] = {2, 2}, k[] = {2, 2}, ld[] = {2, 2}, bad_ldc[] = {2, 1}, sizes[] = {1, 1}, neg[] = {1, -1};
  const float alphas[] = {1, 1};
  const void* const* arr = reinterpret_cast<const void* const*>(d.p);
  void* const* carr = reinterpret_cast<void* const*>(d.p);
  CHECK(cublasGemmGroupedBatchedEx(h.h, ops, ops, m, m, k, alphas, arr, CUDA_R_32F, ld, arr, CUDA_R_32F, ld, alphas,
                                   carr, CUDA_R_32F, bad_ldc, 2, sizes,
                                   CUBLAS_COMPUTE_32F) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(reported("ldc[1] = 1"));
  CHECK(cublasGemmGroupedBatchedEx(h.h, ops, ops, m, m, k, alphas, arr, CUDA_R_32F, ld, arr, CUDA_R_32F, ld, alphas,
                                   carr, CUDA_R_32F, ld, 2, neg, CUBLAS_COMPUTE_32F) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(reported("group_size[1] = -1"));
  CHECK(cublasGemmGroupedBatchedEx(h.h, ops, ops, m, m, k, alphas, arr, CUDA_R_32F, ld, arr, CUDA_R_32F, ld, alphas,
                                   carr, CUDA_R_32F, ld, -1, sizes, CUBLAS_COMPUTE_32F) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(reported("group_count = -1"));

  // Handles: NULL and destroyed ones.
  CHECK(cublasGemmEx(nullptr, N, N, 2, 2, 2, &one, d.p, CUDA_R_32F, 2, d.p, CUDA_R_32F, 2, &zero, d.p, CUDA_R_32F, 2,
                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_NOT_INITIALIZED);
  CHECK(reported("handle is NULL"));
  cublasHandle_t gone = nullptr;
  REQUIRE(cublasCreate(&gone) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cublasDestroy(gone) == CUBLAS_STATUS_SUCCESS);
  CHECK(gemm(N, N, 2, 2, 2, 2, 2, 2, 1, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F, gone) ==
        CUBLAS_STATUS_NOT_INITIALIZED);
  CHECK(reported("destroyed"));
  // The workspace must be 256-byte aligned.
  CHECK(cublasSetWorkspace(h.h, static_cast<char*>(d.p) + 4, 128) == CUBLAS_STATUS_INVALID_VALUE);
  CHECK(reported("aligned to 256"));
  CHECK(cudaDeviceSynchronize() == cudaSuccess);  // nothing ran
}

TEST_CASE("a cuBLAS GEMM reading past its allocation faults like a GPU", "[cudasim]") {
  Fresh fresh;
  Handle h;
  Dev small(std::vector<double>(10, 1.0), CUDA_R_32F), c(std::vector<double>(16, 0.0), CUDA_R_32F);
  const float one = 1, zero = 0;
  // A is 4 x 4 with lda 4: 16 floats, but the allocation holds 10.
  CHECK(cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, small.p, CUDA_R_32F, 4, c.p, CUDA_R_32F, 4, &zero,
                     c.p, CUDA_R_32F, 4, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
  CHECK(cudaDeviceSynchronize() == cudaErrorIllegalAddress);
  CHECK(reported("cublasGemmStridedBatchedEx: A"));
}

TEST_CASE("the cuBLAS workspace is filled with the scratch marker; cublasSetStream resets it", "[cudasim]") {
  Fresh fresh;
  Handle h;
  void* ws = nullptr;
  REQUIRE(cudaMalloc(&ws, 1024) == cudaSuccess);
  REQUIRE(cudaMemset(ws, 0, 1024) == cudaSuccess);
  REQUIRE(cublasSetWorkspace(h.h, ws, 1024) == CUBLAS_STATUS_SUCCESS);
  Dev a({1, 2, 3, 4}, CUDA_R_32F), c({0, 0, 0, 0}, CUDA_R_32F);
  const float one = 1, zero = 0;
  auto gemm = [&] {
    REQUIRE(cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, a.p, CUDA_R_32F, 2, a.p, CUDA_R_32F, 2, &zero,
                         c.p, CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  };
  auto workspace = [&] {
    std::vector<unsigned char> b(1024);
    REQUIRE(cudaMemcpy(b.data(), ws, 1024, cudaMemcpyDeviceToHost) == cudaSuccess);
    return b;
  };
  gemm();
  CHECK(c.get() == std::vector<double>{7, 10, 15, 22});
  CHECK(workspace() == std::vector<unsigned char>(1024, kMarker));
  REQUIRE(cudaMemset(ws, 0, 1024) == cudaSuccess);
  cudaStream_t s = nullptr;
  REQUIRE(cudaStreamCreate(&s) == cudaSuccess);
  REQUIRE(cublasSetStream(h.h, s) == CUBLAS_STATUS_SUCCESS);
  cudaStream_t got = nullptr;
  REQUIRE(cublasGetStream(h.h, &got) == CUBLAS_STATUS_SUCCESS);
  CHECK(got == s);
  gemm();  // back on cuBLAS's own pool: the user workspace is not touched
  CHECK(workspace() == std::vector<unsigned char>(1024, 0));
  REQUIRE(cublasSetStream(h.h, nullptr) == CUBLAS_STATUS_SUCCESS);
  cudaStreamDestroy(s);
  // A workspace freed while still set faults when a GEMM uses it.
  REQUIRE(cublasSetWorkspace(h.h, ws, 1024) == CUBLAS_STATUS_SUCCESS);
  REQUIRE(cudaFree(ws) == cudaSuccess);
  REQUIRE(cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, a.p, CUDA_R_32F, 2, a.p, CUDA_R_32F, 2, &zero, c.p,
                       CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
  CHECK(cudaDeviceSynchronize() == cudaErrorIllegalAddress);
  CHECK(reported("workspace"));
}

TEST_CASE("a captured cuBLAS GEMM replays with the scalars of the call and refills the workspace", "[cudasim]") {
  Fresh fresh;
  Handle h;
  cudaStream_t s = nullptr;
  REQUIRE(cudaStreamCreate(&s) == cudaSuccess);
  REQUIRE(cublasSetStream(h.h, s) == CUBLAS_STATUS_SUCCESS);
  void* ws = nullptr;
  REQUIRE(cudaMalloc(&ws, 512) == cudaSuccess);
  REQUIRE(cudaMemset(ws, 0, 512) == cudaSuccess);
  REQUIRE(cublasSetWorkspace(h.h, ws, 512) == CUBLAS_STATUS_SUCCESS);
  Dev a({1, 2, 3, 4}, CUDA_R_32F), c({0, 0, 0, 0}, CUDA_R_32F);
  float alpha = 2, beta = 0;
  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  REQUIRE(cublasGemmEx(h.h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &alpha, a.p, CUDA_R_32F, 2, a.p, CUDA_R_32F, 2, &beta,
                       c.p, CUDA_R_32F, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
  cudaGraph_t graph = nullptr;
  REQUIRE(cudaStreamEndCapture(s, &graph) == cudaSuccess);
  CHECK(c.get() == std::vector<double>{0, 0, 0, 0});  // recorded, not run
  alpha = 100;                                        // host scalars were read when the call was made
  const float a2[] = {2, 2, 2, 2};
  REQUIRE(cudaMemcpy(a.p, a2, sizeof a2, cudaMemcpyHostToDevice) == cudaSuccess);  // data is read at replay
  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  REQUIRE(cudaGraphLaunch(exec, s) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(s) == cudaSuccess);
  CHECK(c.get() == std::vector<double>{16, 16, 16, 16});
  std::vector<unsigned char> b(512);
  REQUIRE(cudaMemcpy(b.data(), ws, 512, cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(b == std::vector<unsigned char>(512, kMarker));
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  REQUIRE(cublasSetStream(h.h, nullptr) == CUBLAS_STATUS_SUCCESS);
  cudaStreamDestroy(s);
  cudaFree(ws);
}

TEST_CASE("cuBLAS status names and strings", "[cudasim]") {
  CHECK(std::string(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE)) == "CUBLAS_STATUS_INVALID_VALUE");
  CHECK(std::string(cublasGetStatusName(CUBLAS_STATUS_NOT_SUPPORTED)) == "CUBLAS_STATUS_NOT_SUPPORTED");
  CHECK(std::string(cublasGetStatusString(CUBLAS_STATUS_SUCCESS)) == "the operation completed successfully");
  CHECK(std::string(cublasGetStatusString(cublasStatus_t(12345))) == "unknown error");
}
