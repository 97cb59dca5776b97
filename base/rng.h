#pragma once
// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
// Counter-based: the numbers for (seed, counter) are a pure function of both, so
// CPU and CUDA kernels produce the same stream for one seed, and any element can
// be generated independently. Element i of a random tensor uses counter
// (offset + i) / 4, lane (offset + i) % 4.
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define ENGINE_HD __host__ __device__ __forceinline__
#else
#define ENGINE_HD inline
#endif

namespace engine {

struct Philox4 {
  uint32_t v[4];
};

ENGINE_HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(p >> 32);
  return uint32_t(p);
}

ENGINE_HD Philox4 philox4x32_10(uint64_t counter, uint64_t seed) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, hi1;
    uint32_t lo0 = philox_mulhilo(0xD2511F53u, c0, &hi0);
    uint32_t lo1 = philox_mulhilo(0xCD9E8D57u, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// The 32-bit random word for element index i of the stream (seed, offset).
ENGINE_HD uint32_t philox_word(uint64_t seed, uint64_t i) {
  Philox4 r = philox4x32_10(i >> 2, seed);
  return r.v[i & 3];
}

// Uniform in [0, 1) with 24 random bits (exactly representable in f32).
ENGINE_HD float philox_uniform(uint64_t seed, uint64_t i) {
  return float(philox_word(seed, i) >> 8) * (1.0f / 16777216.0f);
}

// Standard normal by Box-Muller from two independent words of element i's own
// counter pair (2i, 2i+1), so element i does not depend on its neighbours.
ENGINE_HD float philox_normal(uint64_t seed, uint64_t i) {
  uint32_t a = philox_word(seed, 2 * i), b = philox_word(seed, 2 * i + 1);
  float u1 = (float(a >> 8) + 1.0f) * (1.0f / 16777217.0f);  // (0, 1]
  float u2 = float(b >> 8) * (1.0f / 16777216.0f);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

}  // namespace engine
