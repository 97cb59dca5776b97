// f32 GEMM on one thread: OpenBLAS (cblas_sgemm, what gemm_cpu calls) against oneDNN's
// dnnl_sgemm, at the shapes of the MoE layer benchmark's expert GEMMs (R = 512 rows per
// expert, C 256, H 1024) and of the text encoder, best of 15 calls each. Not part of the
// build: g++ -O2 bench/micro/gemm_f32_openblas_onednn.cpp -o /tmp/gemm -lopenblas -ldnnl
// && OMP_NUM_THREADS=1 /tmp/gemm. Results: docs/ARCHITECTURE.md, "Threads on the CPU".
#include <cblas.h>
#include <dnnl.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
extern "C" void openblas_set_num_threads(int);
int main() {
  openblas_set_num_threads(1);
  struct S {
    char ta, tb;
    int M, N, K;
    const char* what;
  };
  std::vector<S> shapes = {{'N', 'N', 512, 1024, 256, "fc1 fwd (R=512)"}, {'N', 'N', 512, 256, 1024, "fc2 fwd"},
                           {'N', 'T', 512, 1024, 256, "fc2 bwd data"},    {'T', 'N', 1024, 256, 512, "fc2 bwd weight"},
                           {'N', 'T', 512, 256, 1024, "fc1 bwd data"},    {'T', 'N', 256, 1024, 512, "fc1 bwd weight"},
                           {'N', 'N', 2048, 384, 384, "encoder qkv-ish"}, {'N', 'N', 2048, 1536, 384, "encoder ffn1"}};
  std::mt19937 g(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto s : shapes) {
    int M = s.M, N = s.N, K = s.K;
    std::vector<float> A(size_t(M) * K), B(size_t(K) * N), C(size_t(M) * N);
    for (auto& x : A) x = u(g);
    for (auto& x : B) x = u(g);
    int lda = s.ta == 'N' ? K : M, ldb = s.tb == 'N' ? N : K;
    auto run = [&](int which) {
      double best = 1e9;
      for (int rep = 0; rep < 15; ++rep) {
        auto t0 = std::chrono::steady_clock::now();
        if (which == 0)
          cblas_sgemm(CblasRowMajor, s.ta == 'N' ? CblasNoTrans : CblasTrans, s.tb == 'N' ? CblasNoTrans : CblasTrans,
                      M, N, K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(), N);
        else
          dnnl_sgemm(s.ta, s.tb, M, N, K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(), N);
        double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (t < best) best = t;
      }
      return best;
    };
    double a = run(0), b = run(1);
    printf("%-18s %c%c M%5d N%5d K%5d  openblas %7.3f ms %6.1f GF/s  onednn %7.3f ms %6.1f GF/s  ratio %.2f\n", s.what,
           s.ta, s.tb, M, N, K, a * 1e3, 2.0 * M * N * K / a / 1e9, b * 1e3, 2.0 * M * N * K / b / 1e9, a / b);
  }
}
