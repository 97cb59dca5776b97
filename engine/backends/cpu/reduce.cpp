// CPU adapters for reductions.
#include "kernels/cpu/reduce.h"

#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"

namespace engine {
namespace {
using namespace kernels;

void reduce_cpu(const OpCall& c) {
  const auto& a = c.get<ReduceAttrs>();
  const Tensor &x = c.in[0], &y = c.out[0];
  ENGINE_DISPATCH_FLOAT(x.dtype(), c.op,
                        reduce_rows_cpu<scalar_t>(reduce_op(c.op), y.data<scalar_t>(), x.data<scalar_t>(), a.outer,
                                                  a.inner, a.correction));
}

void argmax_cpu(const OpCall& c) {
  const auto& a = c.get<ReduceAttrs>();
  const Tensor &x = c.in[0], &y = c.out[0];
  ENGINE_DISPATCH_FLOAT(x.dtype(), c.op,
                        argmax_rows_cpu<scalar_t>(y.data<int64_t>(), x.data<scalar_t>(), a.outer, a.inner));
}

}  // namespace

void register_cpu_reduce() {
  for (OpKind k : {OpKind::SUM, OpKind::MEAN, OpKind::MAX, OpKind::VAR})
    register_kernel(k, DeviceType::CPU, reduce_cpu);
  register_kernel(OpKind::ARGMAX, DeviceType::CPU, argmax_cpu);
}

}  // namespace engine
