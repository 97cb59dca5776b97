// CPU adapters for batch normalisation and pooling. Optional tensors (gamma, beta,
// running statistics, unwanted gradients) arrive undefined and reach the kernels as null.
#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/pool.h"

namespace engine {
namespace {
using namespace kernels;

template <class T>
T* opt(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

void batchnorm2d_cpu(const OpCall& c) {
  const auto& p = c.get<BatchNormAttrs>().p;
  const Tensor &x = c.in[0], &y = c.out[0];
  ENGINE_DISPATCH_FLOAT(
      x.dtype(), c.op,
      batchnorm2d_fwd_cpu<scalar_t>(p, y.data<scalar_t>(), c.out[1].data<scalar_t>(), c.out[2].data<scalar_t>(),
                                    x.data<scalar_t>(), opt<scalar_t>(c.in[1]), opt<scalar_t>(c.in[2]),
                                    opt<scalar_t>(c.in[3]), opt<scalar_t>(c.in[4])));
}

void batchnorm2d_bwd_cpu_adapter(const OpCall& c) {
  const auto& p = c.get<BatchNormAttrs>().p;
  const Tensor& x = c.in[1];
  ENGINE_DISPATCH_FLOAT(
      x.dtype(), c.op,
      batchnorm2d_bwd_cpu<scalar_t>(p, opt<scalar_t>(c.out[0]), opt<scalar_t>(c.out[1]), opt<scalar_t>(c.out[2]),
                                    c.in[0].data<scalar_t>(), x.data<scalar_t>(), opt<scalar_t>(c.in[2]),
                                    c.in[3].data<scalar_t>(), c.in[4].data<scalar_t>()));
}

void maxpool2d_cpu(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& x = c.in[0];
  ENGINE_DISPATCH_FLOAT(
      x.dtype(), c.op,
      maxpool2d_fwd_cpu<scalar_t>(p, c.out[0].data<scalar_t>(), c.out[1].data<int64_t>(), x.data<scalar_t>()));
}

void maxpool2d_bwd_cpu_adapter(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& gx = c.out[0];
  ENGINE_DISPATCH_FLOAT(
      gx.dtype(), c.op,
      maxpool2d_bwd_cpu<scalar_t>(p, gx.data<scalar_t>(), c.in[0].data<scalar_t>(), c.in[1].data<int64_t>()));
}

void avgpool2d_cpu(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& x = c.in[0];
  ENGINE_DISPATCH_FLOAT(x.dtype(), c.op, avgpool2d_fwd_cpu<scalar_t>(p, c.out[0].data<scalar_t>(), x.data<scalar_t>()));
}

void avgpool2d_bwd_cpu_adapter(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& gx = c.out[0];
  ENGINE_DISPATCH_FLOAT(gx.dtype(), c.op,
                        avgpool2d_bwd_cpu<scalar_t>(p, gx.data<scalar_t>(), c.in[0].data<scalar_t>()));
}

void global_avgpool_cpu(const OpCall& c) {
  const auto& p = c.get<PoolAttrs>().p;
  const Tensor& x = c.in[0];
  ENGINE_DISPATCH_FLOAT(x.dtype(), c.op,
                        global_avgpool_fwd_cpu<scalar_t>(c.out[0].data<scalar_t>(), x.data<scalar_t>(), p.N, p.C,
                                                         p.H * p.W, p.channels_last));
}

}  // namespace

void register_cpu_norm_pool() {
  register_kernel(OpKind::BATCHNORM2D, DeviceType::CPU, batchnorm2d_cpu);
  register_kernel(OpKind::BATCHNORM2D_BWD, DeviceType::CPU, batchnorm2d_bwd_cpu_adapter);
  register_kernel(OpKind::MAXPOOL2D, DeviceType::CPU, maxpool2d_cpu);
  register_kernel(OpKind::MAXPOOL2D_BWD, DeviceType::CPU, maxpool2d_bwd_cpu_adapter);
  register_kernel(OpKind::AVGPOOL2D, DeviceType::CPU, avgpool2d_cpu);
  register_kernel(OpKind::AVGPOOL2D_BWD, DeviceType::CPU, avgpool2d_bwd_cpu_adapter);
  register_kernel(OpKind::GLOBAL_AVGPOOL, DeviceType::CPU, global_avgpool_cpu);
}

}  // namespace engine
