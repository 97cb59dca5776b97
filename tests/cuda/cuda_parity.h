#pragma once
// Helpers of the CUDA parity tests: each [cuda] test computes an op on the GPU and on
// its CPU twin from the same random inputs and compares them by normalised error with
// a tolerance per dtype. Allocations on the GPU are poisoned (0xFF bytes: NaN in every
// float dtype), so an output element a kernel forgets to write fails the comparison.
// bf16 and f16 have no CPU kernels: their CPU twin computes in f32 on the same
// (rounded) values.
#include <string>
#include <vector>

#include "engine/core/dispatch.h"
#include "engine/core/backend.h"
#include "engine/backends/cuda/context.h"
#include "test_util.h"

namespace engine::testing {

using kernels::ActivationKind;
using kernels::BinaryOp;
using kernels::CompareOp;
using kernels::UnaryOp;

inline Device gpu() { return Device::cuda(0); }

// First line of every [cuda] test: skips (exit 77) without a GPU, poisons allocations.
inline void begin_cuda_test() {
  require_cuda();
  runtime::cuda_set_poison_allocations(true);
}

inline const std::vector<DType>& float_dtypes() {
  static const std::vector<DType> all = {DType::f32, DType::f64, DType::bf16, DType::f16};
  return all;
}

// Normalised-error tolerance of a CUDA result computed in dtype d.
inline double parity_tol(DType d) {
  switch (d) {
    case DType::f64: return 1e-10;
    case DType::f32: return 1e-5;
    case DType::bf16: return 2e-2;
    case DType::f16: return 4e-3;
    default: return 0.0;
  }
}

inline Tensor on_gpu(const Tensor& t) { return t.to(gpu()); }

// A CPU tensor of dtype d holding normal random values (rounded to d).
inline Tensor rand_input(const Shape& s, uint64_t seed, DType d, double mean = 0.0, double stddev = 1.0) {
  return randn64(s, seed, mean, stddev).to(d);
}
inline Tensor rand_uniform_input(const Shape& s, uint64_t seed, DType d, double lo, double hi) {
  return uniform64(s, seed, lo, hi).to(d);
}

// The CPU twin of an input: bf16 and f16 compute in f32 on the CPU.
inline Tensor cpu_twin(const Tensor& t) {
  return t.dtype() == DType::bf16 || t.dtype() == DType::f16 ? t.to(DType::f32) : t;
}

inline Tensor i64_tensor(const std::vector<int64_t>& v, const Shape& s) {
  std::vector<double> d(v.begin(), v.end());
  return Tensor::from_vector(d, s, DType::i64);
}

// Checks a CUDA result against its CPU twin.
inline void check_parity(const Tensor& got, const Tensor& want, DType d, const std::string& what) {
  REQUIRE(got.defined());
  REQUIRE(got.device().is_cuda());
  REQUIRE(want.device().is_cpu());
  REQUIRE(got.shape() == want.shape());
  double e = normalized_error(got, want);
  INFO(what << " [" << dtype_name(d) << "]: normalised error " << e << ", tolerance " << parity_tol(d));
  CHECK(e <= parity_tol(d));
}

// Exact equality (indices, masks, conversions, copies).
inline void check_exact(const Tensor& got, const Tensor& want, const std::string& what) {
  REQUIRE(got.defined());
  REQUIRE(got.device().is_cuda());
  REQUIRE(got.shape() == want.shape());
  std::vector<double> g = got.to_vector(), w = want.to_vector();
  size_t bad = 0, first = g.size();
  for (size_t i = 0; i < g.size(); ++i)
    if (!(g[i] == w[i])) {
      ++bad;
      if (first == g.size()) first = i;
    }
  INFO(what << ": " << bad << " of " << g.size() << " elements differ"
            << (bad ? ", first at " + std::to_string(first) + ": cuda " + std::to_string(g[first]) + " vs cpu " +
                          std::to_string(w[first])
                    : std::string()));
  CHECK(bad == 0);
}

}  // namespace engine::testing
