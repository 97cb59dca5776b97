// CPU adapters for the linear-algebra family.
#include "kernels/cpu/linalg.h"

#include <cstdlib>
#include <string>

#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "kernels/cpu/gemm_bf16.h"

namespace engine {
namespace {
using namespace kernels;

void matmul_cpu(const OpCall& c) {
  const Tensor &a = c.in[0], &b = c.in[1], &y = c.out[0];
  if (y.dtype() == DType::bf16)
    return matmul_fwd_cpu<uint16_t>(bits16(y), bits16(a), bits16(b), c.get<MatmulAttrs>().p);
  ENGINE_DISPATCH_FLOAT(
      y.dtype(), c.op,
      matmul_fwd_cpu<scalar_t>(y.data<scalar_t>(), a.data<scalar_t>(), b.data<scalar_t>(), c.get<MatmulAttrs>().p));
}

void linear_cpu(const OpCall& c) {
  const Tensor &x = c.in[0], &w = c.in[1], &bias = c.in[2], &y = c.out[0];
  if (y.dtype() == DType::bf16)
    return linear_fwd_cpu<uint16_t>(bits16(y), bits16(x), bits16(w), bits16(bias), x.size(0), x.size(1), w.size(0));
  ENGINE_DISPATCH_FLOAT(
      y.dtype(), c.op,
      linear_fwd_cpu<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(),
                               bias.defined() ? bias.data<scalar_t>() : nullptr, x.size(0), x.size(1), w.size(0)));
}

}  // namespace

bool cpu_gemm_runs_bf16(const OpCall& c) {
  switch (c.op) {
    case OpKind::MATMUL:
    case OpKind::LINEAR:
    case OpKind::MOE_GROUPED_MATMUL:
    case OpKind::MOE_GROUPED_MATMUL_BWD_DATA:
    case OpKind::MOE_GROUPED_MATMUL_BWD_WEIGHT: break;
    default: return false;
  }
  for (const auto* list : {&c.in, &c.out})
    for (const Tensor& t : *list)
      if (t.defined() && is_floating(t.dtype()) && t.dtype() != DType::bf16) return false;
  // Read at every call (tests and benchmarks switch it): "widen" forces the reference.
  const char* v = std::getenv("ENGINE_CPU_BF16_GEMM");
  const std::string choice = v ? v : "";
  ENGINE_CHECK(choice.empty() || choice == "widen" || choice == "onednn",
               "ENGINE_CPU_BF16_GEMM must be widen or onednn, got '" << choice << "'");
  return choice != "widen" && gemm_bf16_native();
}

void register_cpu_linalg() {
  register_kernel(OpKind::MATMUL, DeviceType::CPU, matmul_cpu);
  register_kernel(OpKind::LINEAR, DeviceType::CPU, linear_cpu);
}

}  // namespace engine
