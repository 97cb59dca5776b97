// CPU adapters for the elementwise family.
#include "kernels/cpu/elementwise.h"

#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"

namespace engine {
namespace {
using namespace kernels;

void binary_cpu(const OpCall& c) {
  const Tensor &a = c.in[0], &b = c.in[1], &y = c.out[0];
  if (y.dtype() == DType::bf16) {  // dense bf16 operands (cpu_elementwise_runs_bf16)
    binary_bf16_dense_cpu(c.get<BinaryAttrs>().op, bits16(y), bits16(a), bits16(b), y.numel());
    return;
  }
  ENGINE_DISPATCH_FLOAT(y.dtype(), c.op,
                        binary_fwd_cpu<scalar_t>(c.get<BinaryAttrs>().op, y.data<scalar_t>(), a.data<scalar_t>(),
                                                 layout_of(a), b.data<scalar_t>(), layout_of(b), y.numel()));
}

void compare_cpu(const OpCall& c) {
  const Tensor &a = c.in[0], &b = c.in[1], &y = c.out[0];
  ENGINE_DISPATCH_FLOAT(a.dtype(), c.op,
                        compare_fwd_cpu<scalar_t>(c.get<CompareAttrs>().op, y.data<uint8_t>(), a.data<scalar_t>(),
                                                  layout_of(a), b.data<scalar_t>(), layout_of(b), y.numel()));
}

void where_cpu(const OpCall& c) {
  const Tensor &cond = c.in[0], &a = c.in[1], &b = c.in[2], &y = c.out[0];
  ENGINE_DISPATCH_FLOAT(
      y.dtype(), c.op,
      where_fwd_cpu<scalar_t>(y.data<scalar_t>(), cond.data<uint8_t>(), layout_of(cond), a.data<scalar_t>(),
                              layout_of(a), b.data<scalar_t>(), layout_of(b), y.numel()));
}

void unary_cpu(const OpCall& c) {
  const Tensor &x = c.in[0], &y = c.out[0];
  const auto& at = c.get<UnaryAttrs>();
  if (y.dtype() == DType::bf16) {  // dense bf16 (cpu_elementwise_runs_bf16)
    unary_bf16_dense_cpu(at.op, at.alpha, at.beta, bits16(y), bits16(x), y.numel());
    return;
  }
  ENGINE_DISPATCH_FLOAT(y.dtype(), c.op,
                        unary_fwd_cpu<scalar_t>(at.op, at.alpha, at.beta, y.data<scalar_t>(), x.data<scalar_t>(),
                                                layout_of(x), y.numel()));
}

void activation_bwd_cpu_adapter(const OpCall& c) {
  const Tensor &gy = c.in[0], &v = c.in[1], &gx = c.out[0];
  if (gx.dtype() == DType::bf16) {  // dense bf16 (cpu_elementwise_runs_bf16)
    activation_bwd_bf16_cpu(c.get<ActivationBwdAttrs>().kind, bits16(gx), bits16(gy), bits16(v), gx.numel());
    return;
  }
  ENGINE_DISPATCH_FLOAT(gx.dtype(), c.op,
                        activation_bwd_cpu<scalar_t>(c.get<ActivationBwdAttrs>().kind, gx.data<scalar_t>(),
                                                     gy.data<scalar_t>(), v.data<scalar_t>(), gx.numel()));
}

}  // namespace

bool cpu_elementwise_runs_bf16(const OpCall& c) {
  switch (c.op) {
    case OpKind::ADD:
    case OpKind::SUB:
    case OpKind::MUL:
    case OpKind::DIV:
    case OpKind::POW:
    case OpKind::MAXIMUM:
    case OpKind::NEG:
    case OpKind::EXP:
    case OpKind::LOG:
    case OpKind::SQRT:
    case OpKind::RSQRT:
    case OpKind::RELU:
    case OpKind::GELU:
    case OpKind::SIGMOID:
    case OpKind::TANH:
    case OpKind::CLAMP:
    case OpKind::ACTIVATION_BWD: break;
    default: return false;
  }
  for (const std::vector<Tensor>* ts : {&c.in, &c.out})
    for (const Tensor& t : *ts)
      if (t.dtype() != DType::bf16 || !layout_of(t).contiguous) return false;
  return true;
}

void register_cpu_elementwise() {
  for (OpKind op : {OpKind::ADD, OpKind::SUB, OpKind::MUL, OpKind::DIV, OpKind::POW, OpKind::MAXIMUM})
    register_kernel(op, DeviceType::CPU, binary_cpu);
  register_kernel(OpKind::COMPARE, DeviceType::CPU, compare_cpu);
  register_kernel(OpKind::WHERE, DeviceType::CPU, where_cpu);
  for (OpKind op : {OpKind::NEG, OpKind::EXP, OpKind::LOG, OpKind::SQRT, OpKind::RSQRT, OpKind::RELU, OpKind::GELU,
                    OpKind::SIGMOID, OpKind::TANH, OpKind::CLAMP})
    register_kernel(op, DeviceType::CPU, unary_cpu);
  register_kernel(OpKind::ACTIVATION_BWD, DeviceType::CPU, activation_bwd_cpu_adapter);
}

}  // namespace engine
