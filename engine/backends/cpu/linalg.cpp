// CPU adapters for the linear-algebra family.
#include "kernels/cpu/linalg.h"

#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"

namespace engine {
namespace {
using namespace kernels;

void matmul_cpu(const OpCall& c) {
  const Tensor &a = c.in[0], &b = c.in[1], &y = c.out[0];
  ENGINE_DISPATCH_FLOAT(
      y.dtype(), c.op,
      matmul_fwd_cpu<scalar_t>(y.data<scalar_t>(), a.data<scalar_t>(), b.data<scalar_t>(), c.get<MatmulAttrs>().p));
}

void linear_cpu(const OpCall& c) {
  const Tensor &x = c.in[0], &w = c.in[1], &bias = c.in[2], &y = c.out[0];
  ENGINE_DISPATCH_FLOAT(
      y.dtype(), c.op,
      linear_fwd_cpu<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(),
                               bias.defined() ? bias.data<scalar_t>() : nullptr, x.size(0), x.size(1), w.size(0)));
}

}  // namespace

void register_cpu_linalg() {
  register_kernel(OpKind::MATMUL, DeviceType::CPU, matmul_cpu);
  register_kernel(OpKind::LINEAR, DeviceType::CPU, linear_cpu);
}

}  // namespace engine
