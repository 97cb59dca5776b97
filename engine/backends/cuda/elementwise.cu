// CUDA adapters for the elementwise family.
#include "engine/backends/cuda/adapter.h"
#include "kernels/cuda/elementwise.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

void binary_cuda(const OpCall& c) {
  const Tensor &a = c.in[0], &b = c.in[1], &y = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(
      y.dtype(), c.op,
      binary_fwd_cuda<scalar_t>(c.get<BinaryAttrs>().op, y.data<scalar_t>(), a.data<scalar_t>(), layout_of(a),
                                b.data<scalar_t>(), layout_of(b), y.numel(), stream_of(c)));
}

void compare_cuda(const OpCall& c) {
  const Tensor &a = c.in[0], &b = c.in[1], &y = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(
      a.dtype(), c.op,
      compare_fwd_cuda<scalar_t>(c.get<CompareAttrs>().op, y.data<uint8_t>(), a.data<scalar_t>(), layout_of(a),
                                 b.data<scalar_t>(), layout_of(b), y.numel(), stream_of(c)));
}

void where_cuda(const OpCall& c) {
  const Tensor &cond = c.in[0], &a = c.in[1], &b = c.in[2], &y = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(
      y.dtype(), c.op,
      where_fwd_cuda<scalar_t>(y.data<scalar_t>(), cond.data<uint8_t>(), layout_of(cond), a.data<scalar_t>(),
                               layout_of(a), b.data<scalar_t>(), layout_of(b), y.numel(), stream_of(c)));
}

void unary_cuda(const OpCall& c) {
  const Tensor &x = c.in[0], &y = c.out[0];
  const auto& at = c.get<UnaryAttrs>();
  ENGINE_CUDA_DISPATCH_FLOAT(y.dtype(), c.op,
                             unary_fwd_cuda<scalar_t>(at.op, at.alpha, at.beta, y.data<scalar_t>(), x.data<scalar_t>(),
                                                      layout_of(x), y.numel(), stream_of(c)));
}

void activation_bwd_cuda_adapter(const OpCall& c) {
  const Tensor &gy = c.in[0], &v = c.in[1], &gx = c.out[0];
  ENGINE_CUDA_DISPATCH_FLOAT(
      gx.dtype(), c.op,
      activation_bwd_cuda<scalar_t>(c.get<ActivationBwdAttrs>().kind, gx.data<scalar_t>(), gy.data<scalar_t>(),
                                    v.data<scalar_t>(), gx.numel(), stream_of(c)));
}

}  // namespace

void register_cuda_elementwise() {
  for (OpKind op : {OpKind::ADD, OpKind::SUB, OpKind::MUL, OpKind::DIV, OpKind::POW, OpKind::MAXIMUM})
    reg<binary_cuda>(op);
  reg<compare_cuda>(OpKind::COMPARE);
  reg<where_cuda>(OpKind::WHERE);
  for (OpKind op : {OpKind::NEG, OpKind::EXP, OpKind::LOG, OpKind::SQRT, OpKind::RSQRT, OpKind::RELU, OpKind::GELU,
                    OpKind::SIGMOID, OpKind::TANH, OpKind::CLAMP})
    reg<unary_cuda>(op);
  reg<activation_bwd_cuda_adapter>(OpKind::ACTIVATION_BWD);
}

}  // namespace engine
