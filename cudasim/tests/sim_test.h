#pragma once
// What the simulator's tests share: a clean device per case, the last report, and
// host values to device bytes and back with CUDA's own conversions (round to nearest even).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cudasim/cudasim.h"

namespace simtest {

constexpr unsigned char kMarker = 0xA5;  // cudasim::kScratchMarker (cudasim/src/internal.h)

// A fault is sticky, as on a GPU: each case starts and ends with a reset device.
struct Fresh {
  Fresh() {
    cudaDeviceReset();
    cudasim::clear_report();
  }
  ~Fresh() { cudaDeviceReset(); }
};

inline bool reported(const std::string& what) {
  const std::string r = cudasim::last_report();
  INFO("last report: " << r);
  return r.find(what) != std::string::npos;
}

enum class Num { f64, f32, f16, bf16 };
inline size_t num_size(Num n) { return n == Num::f64 ? 8 : n == Num::f32 ? 4 : 2; }

inline std::vector<unsigned char> encode_num(const std::vector<double>& v, Num t) {
  std::vector<unsigned char> b(v.size() * num_size(t));
  for (size_t i = 0; i < v.size(); ++i) {
    unsigned char* p = b.data() + i * num_size(t);
    if (t == Num::f64) std::memcpy(p, &v[i], 8);
    if (t == Num::f32) {
      float f = float(v[i]);
      std::memcpy(p, &f, 4);
    }
    if (t == Num::f16) {
      __half h = __float2half_rn(float(v[i]));
      std::memcpy(p, &h, 2);
    }
    if (t == Num::bf16) {
      __nv_bfloat16 h = __float2bfloat16_rn(float(v[i]));
      std::memcpy(p, &h, 2);
    }
  }
  return b;
}

inline std::vector<double> decode_num(const std::vector<unsigned char>& b, Num t) {
  std::vector<double> v(b.size() / num_size(t));
  for (size_t i = 0; i < v.size(); ++i) {
    const unsigned char* p = b.data() + i * num_size(t);
    if (t == Num::f64) std::memcpy(&v[i], p, 8);
    if (t == Num::f32) {
      float f;
      std::memcpy(&f, p, 4);
      v[i] = f;
    }
    if (t == Num::f16) {
      __half h;
      std::memcpy(&h, p, 2);
      v[i] = __half2float(h);
    }
    if (t == Num::bf16) {
      __nv_bfloat16 h;
      std::memcpy(&h, p, 2);
      v[i] = __bfloat162float(h);
    }
  }
  return v;
}

// A device buffer holding values of one type; an empty one still owns an allocation.
struct DevBuf {
  void* p = nullptr;
  Num t;
  size_t n;
  DevBuf(const std::vector<double>& v, Num type) : t(type), n(v.size()) {
    REQUIRE(cudaMalloc(&p, std::max<size_t>(1, n * num_size(t))) == cudaSuccess);
    const auto b = encode_num(v, t);
    if (n) REQUIRE(cudaMemcpy(p, b.data(), b.size(), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<double> get() const {
    std::vector<unsigned char> b(n * num_size(t));
    if (n) REQUIRE(cudaMemcpy(b.data(), p, b.size(), cudaMemcpyDeviceToHost) == cudaSuccess);
    return decode_num(b, t);
  }
  ~DevBuf() { cudaFree(p); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
};

// Multiples of 1/8 in [-2, 2]: products and sums stay exact in f32.
inline std::vector<double> grid_values(size_t n, std::mt19937& rng) {
  std::vector<double> v(n);
  for (auto& x : v) x = (int(rng() % 33) - 16) / 8.0;
  return v;
}

// Exact comparison; NaN only matches NaN.
inline size_t mismatches(const std::vector<double>& got, const std::vector<double>& want) {
  size_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const bool same = std::isnan(want[i]) ? std::isnan(got[i]) : got[i] == want[i];
    if (!same && bad++ == 0) UNSCOPED_INFO("first mismatch at " << i << ": got " << got[i] << ", want " << want[i]);
  }
  return bad;
}

}  // namespace simtest
