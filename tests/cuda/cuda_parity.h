#pragma once
// Helpers of the [cuda] tests that compare more than one op (networks, optimizers,
// autocast) with the CPU: the same random inputs, normalised error within a tolerance
// per dtype, GPU allocations poisoned (0xFF bytes: NaN in every float dtype). Single-op
// parity is the op-case table's (opcases/, run by tests/ops); the dtypes, tolerances
// and the f32 CPU twin of bf16/f16 values are the table's.
#include <string>
#include <vector>

#include "engine/autograd/functions.h"
#include "engine/backends/cuda/context.h"
#include "engine/core/backend.h"
#include "engine/core/dispatch.h"
#include "engine/nn/module.h"
#include "engine/optim/optimizer.h"
#include "opcases/op_cases.h"
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

using opcases::cpu_twin;
using opcases::float_dtypes;
using opcases::parity_tol;

inline Tensor on_gpu(const Tensor& t) { return t.to(gpu()); }

// A CPU tensor of dtype d holding normal random values (rounded to d).
inline Tensor rand_input(const Shape& s, uint64_t seed, DType d, double mean = 0.0, double stddev = 1.0) {
  return randn64(s, seed, mean, stddev).to(d);
}
inline Tensor rand_uniform_input(const Shape& s, uint64_t seed, DType d, double lo, double hi) {
  return uniform64(s, seed, lo, hi).to(d);
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

// The same model on both devices, each with its optimizer.
struct TwinModels {
  nn::Module &cpu, &cuda;
  optim::Optimizer &cpu_opt, &cuda_opt;
};

struct TwinLosses {
  Variable cpu, cuda;
};

// Zeroes both models' gradients, then runs the cross-entropy loss of (x, y), both on the
// CPU, forward and backward on each device.
inline TwinLosses cross_entropy_backward(const TwinModels& m, const Tensor& x, const Tensor& y) {
  m.cpu_opt.zero_grad();
  m.cuda_opt.zero_grad();
  TwinLosses l{ag::cross_entropy(m.cpu(Variable(x)), y), ag::cross_entropy(m.cuda(Variable(on_gpu(x))), on_gpu(y))};
  l.cpu.backward();
  l.cuda.backward();
  return l;
}

}  // namespace engine::testing
