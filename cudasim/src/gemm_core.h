#pragma once
// Numerics shared by the simulated cuBLAS and cuDNN: exact conversions of the 16-bit
// float formats, the input roundings the GPU libraries apply on their fast paths, and
// one cache-blocked GEMM kernel that both libraries run. No external BLAS: the
// simulator must behave the same on every CI machine.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace cudasim::numerics {

struct f16 {
  uint16_t bits;
};  // IEEE binary16 as stored in device memory
struct bf16 {
  uint16_t bits;
};  // bfloat16 as stored in device memory

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float widen(float v) { return v; }
inline double widen(double v) { return v; }
inline float widen(bf16 v) { return float_of(uint32_t(v.bits) << 16); }
inline float widen(f16 v) {
  const uint32_t sign = uint32_t(v.bits & 0x8000u) << 16, e = (v.bits >> 10) & 0x1fu, m = v.bits & 0x3ffu;
  if (e == 0) {  // zero or subnormal: m * 2^-24, exact in float
    const float mag = float(m) * 5.9604644775390625e-8f;
    return sign ? -mag : mag;
  }
  if (e == 31) return float_of(sign | 0x7f800000u | (m << 13));  // inf, NaN (payload kept)
  return float_of(sign | ((e + 112) << 23) | (m << 13));
}

// Round to nearest even, as __float2half_rn and __float2bfloat16_rn do.
inline f16 to_f16(float f) {
  uint32_t x = bits_of(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) return f16{uint16_t(sign | (x > 0x7f800000u ? 0x7e00u : 0x7c00u))};
  if (x >= 0x477ff000u) return f16{uint16_t(sign | 0x7c00u)};  // >= 65520 rounds to inf
  if (x < 0x38800000u)  // below 2^-14: a multiple of 2^-24 (scaling by 2^24 is exact)
    return f16{uint16_t(sign | uint16_t(std::nearbyint(float_of(x) * 16777216.0f)))};
  const uint32_t r = x + 0xfffu + ((x >> 13) & 1u) - 0x38000000u;
  return f16{uint16_t(sign | (r >> 13))};
}
inline bf16 to_bf16(float f) {
  const uint32_t x = bits_of(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((x >> 16) | 0x40u)};  // quiet NaN
  return bf16{uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16)};
}

// An accumulator value stored as T (16-bit formats rounded to nearest even).
template <class T, class Acc>
inline T narrow(Acc v) {
  if constexpr (std::is_same_v<T, f16>)
    return to_f16(float(v));
  else if constexpr (std::is_same_v<T, bf16>)
    return to_bf16(float(v));
  else
    return T(v);
}

// Reduced-precision inputs the GPU may use for f32 data (TF32 tensor cores, the
// FAST_16F / FAST_16BF compute types). TF32 keeps 10 mantissa bits, rounded to nearest
// with ties away from zero (cvt.rna.tf32.f32, what CUTLASS's TF32 kernels use).
enum class Rounding { none, tf32, f16, bf16 };
inline float round_input(float v, Rounding r) {
  switch (r) {
    case Rounding::none: return v;
    case Rounding::tf32: {
      const uint32_t x = bits_of(v);
      if ((x & 0x7f800000u) == 0x7f800000u) return v;  // inf, NaN
      return float_of((x + 0x1000u) & 0xffffe000u);
    }
    case Rounding::f16: return widen(to_f16(v));
    case Rounding::bf16: return widen(to_bf16(v));
  }
  return v;
}
inline double round_input(double v, Rounding) { return v; }

// True unless NVIDIA_TF32_OVERRIDE=0, which disables TF32 in cuBLAS and cuDNN.
inline bool tf32_allowed() {
  static const bool allowed = [] {
    const char* e = std::getenv("NVIDIA_TF32_OVERRIDE");
    return !(e && e[0] == '0' && e[1] == 0);
  }();
  return allowed;
}

// ---- GEMM kernel -------------------------------------------------------------------
// out[r * ldo + c] += sum_p L(r, p) * R(p, c), every output summed in ascending p in the
// accumulator type. Operands are packed first: L in blocks of kMR rows (p-major inside),
// R in panels of kNB columns (p-major inside), both zero padded, so that the inner loop
// is a fixed-length loop over contiguous memory that the compiler vectorises at -O2.
constexpr int64_t kMR = 4, kNB = 64, kKC = 256;  // the kernel below is written for kMR = 4

inline int64_t left_size(int64_t rows, int64_t depth) { return (rows + kMR - 1) / kMR * kMR * depth; }
inline int64_t right_size(int64_t depth, int64_t cols) { return (cols + kNB - 1) / kNB * kNB * depth; }
// Where R(p, c) lives in a packed right operand.
inline int64_t right_index(int64_t depth, int64_t p, int64_t c) { return ((c / kNB) * depth + p) * kNB + c % kNB; }

// L(r, p) = src[r * rs + p * cs].
template <class Acc, class S>
void pack_left(int64_t rows, int64_t depth, const S* src, int64_t rs, int64_t cs, Rounding rnd, Acc* dst) {
  for (int64_t rb = 0; rb * kMR < rows; ++rb) {
    Acc* d = dst + rb * depth * kMR;
    for (int64_t i = 0; i < kMR; ++i) {
      const int64_t r = rb * kMR + i;
      if (r >= rows) {
        for (int64_t p = 0; p < depth; ++p) d[p * kMR + i] = Acc(0);
        continue;
      }
      const S* s = src + r * rs;
      for (int64_t p = 0; p < depth; ++p) d[p * kMR + i] = round_input(Acc(widen(s[p * cs])), rnd);
    }
  }
}

// R(p, c) = src[p * rs + c * cs].
template <class Acc, class S>
void pack_right(int64_t depth, int64_t cols, const S* src, int64_t rs, int64_t cs, Rounding rnd, Acc* dst) {
  for (int64_t cb = 0; cb * kNB < cols; ++cb) {
    Acc* d = dst + cb * depth * kNB;
    const int64_t n = std::min(kNB, cols - cb * kNB);
    for (int64_t p = 0; p < depth; ++p) {
      const S* s = src + p * rs + cb * kNB * cs;
      Acc* dp = d + p * kNB;
      for (int64_t j = 0; j < n; ++j) dp[j] = round_input(Acc(widen(s[j * cs])), rnd);
      for (int64_t j = n; j < kNB; ++j) dp[j] = Acc(0);
    }
  }
}

template <class Acc>
void gemm_packed(int64_t rows, int64_t cols, int64_t depth, const Acc* lp, const Acc* rp, Acc* out, int64_t ldo) {
  alignas(64) Acc acc[kMR][kNB];
  for (int64_t k0 = 0; k0 < depth; k0 += kKC) {  // a k-block of R panels stays in cache
    const int64_t k1 = std::min(depth, k0 + kKC);
    for (int64_t cb = 0; cb * kNB < cols; ++cb) {
      const int64_t nc = std::min(kNB, cols - cb * kNB);
      const Acc* rpanel = rp + cb * depth * kNB;
      for (int64_t rb = 0; rb * kMR < rows; ++rb) {
        const int64_t nr = std::min(kMR, rows - rb * kMR);
        for (int64_t i = 0; i < kMR; ++i)
          for (int64_t j = 0; j < kNB; ++j)
            acc[i][j] = i < nr && j < nc ? out[(rb * kMR + i) * ldo + cb * kNB + j] : Acc(0);
        const Acc* lpanel = lp + rb * depth * kMR;
        for (int64_t p = k0; p < k1; ++p) {
          const Acc* b = rpanel + p * kNB;
          const Acc a0 = lpanel[p * kMR], a1 = lpanel[p * kMR + 1], a2 = lpanel[p * kMR + 2], a3 = lpanel[p * kMR + 3];
          for (int64_t j = 0; j < kNB; ++j) {
            const Acc bv = b[j];
            acc[0][j] += a0 * bv;
            acc[1][j] += a1 * bv;
            acc[2][j] += a2 * bv;
            acc[3][j] += a3 * bv;
          }
        }
        for (int64_t i = 0; i < nr; ++i)
          for (int64_t j = 0; j < nc; ++j) out[(rb * kMR + i) * ldo + cb * kNB + j] = acc[i][j];
      }
    }
  }
}

}  // namespace cudasim::numerics
