#pragma once
// bf16 GEMMs on the CPU: bf16 operands, f32 accumulation, through oneDNN's JIT GEMM
// (dnnl_gemm_bf16bf16f32, the kernels under its matmul primitive; no primitive to
// create, so the varying row counts of the MoE expert groups cost nothing extra); the
// result is rounded to bf16 once (round to nearest even) or kept in f32. The same
// contract as the widened reference of lowp.h (an f32 GEMM of the widened operands,
// rounded back): only the order of the f32 sums differs.
//
// gemm_bf16_native() is true when the build has oneDNN, its library exports that GEMM
// and the CPU has bf16 arithmetic (AVX-512 BF16 or AMX); callers take the widened path
// otherwise. In a build without oneDNN the GEMMs throw.
#include <cstddef>
#include <cstdint>

namespace engine::kernels {

bool gemm_bf16_native();

// c [M, N] (row stride ldc) = op(a) op(b), overwritten; op(a) [M, K] is a stored [M, K]
// with row stride lda, or stored [K, M] (trans_a); op(b) [K, N] likewise. bf16 as bits.
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* a, int64_t lda,
               const uint16_t* b, int64_t ldb, uint16_t* c, int64_t ldc);
// The same with an f32 result.
void gemm_bf16_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* a, int64_t lda,
                   const uint16_t* b, int64_t ldb, float* c, int64_t ldc);

}  // namespace engine::kernels
