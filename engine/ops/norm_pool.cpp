// Functional ops: batch normalisation and pooling over [N, C, H, W] tensors. Inputs are
// made dense here in their suggested memory format: the kernels see plain NCHW buffers,
// or NHWC ones when the params say channels_last (channels-last in, channels-last out).

#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"
#include "engine/ops/norm_checks.h"

namespace engine::ops {
namespace {

using namespace norm_checks;

kernels::BatchNormParams bn_params(const Tensor& x, bool training, double momentum, double eps) {
  kernels::BatchNormParams p;
  p.N = x.size(0);
  p.C = x.size(1);
  p.HW = x.size(2) * x.size(3);
  p.momentum = momentum;
  p.eps = eps;
  p.training = training;
  return p;
}

void check_grad_shape(const Tensor& gy, const kernels::Pool2dParams& p, const char* op) {
  ENGINE_CHECK(gy.defined(), "op " << op << ": undefined gradient");
  Shape want{p.N, p.C, p.P, p.Q};
  ENGINE_CHECK(gy.shape() == want, "op " << op << ": gradient shape " << shape_str(gy.shape()) << " does not match "
                                         << "the pooled shape " << shape_str(want));
}

}  // namespace

BatchNormOutput batchnorm2d(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                            const Tensor& running_var, bool training, double momentum, double eps) {
  const char* op = "batchnorm2d";
  check_nchw(x, op);
  DType dt = channel_dtype(x, {&gamma, &beta, &running_mean, &running_var}, op);
  check_channel_vector(gamma, x, dt, "gamma", op, true);
  check_channel_vector(beta, x, dt, "beta", op, true);
  check_channel_vector(running_mean, x, dt, "running_mean", op, training);
  check_channel_vector(running_var, x, dt, "running_var", op, training);
  ENGINE_CHECK(running_mean.defined() == running_var.defined(),
               "op batchnorm2d: running_mean and running_var must be given together");
  ENGINE_CHECK(eps >= 0, "op batchnorm2d: eps must be >= 0, got " << eps);
  BatchNormAttrs a{bn_params(x, training, momentum, eps)};
  if (training)
    ENGINE_CHECK(a.p.N * a.p.HW > 1,
                 "op batchnorm2d: training needs more than one value per channel, got input " << shape_str(x.shape()));
  const MemoryFormat fmt = x.suggest_memory_format();
  a.p.channels_last = fmt == MemoryFormat::ChannelsLast;
  BatchNormOutput out;
  out.y = Tensor::empty(x.shape(), fmt, x.dtype(), x.device());
  out.save_mean = Tensor::empty({a.p.C}, dt, x.device());
  out.save_invstd = Tensor::empty({a.p.C}, dt, x.device());
  if (a.p.C == 0) return out;
  // The kernel updates the running statistics through raw pointers: strided views
  // go through a contiguous copy that is written back afterwards.
  Tensor rm = contiguous_or_undefined(running_mean), rv = contiguous_or_undefined(running_var);
  dispatch(OpCall{OpKind::BATCHNORM2D,
                  {x.contiguous(fmt), contiguous_or_undefined(gamma), contiguous_or_undefined(beta), rm, rv},
                  {out.y, out.save_mean, out.save_invstd},
                  &a});
  if (training && rm.defined()) {
    if (!rm.shares_storage(running_mean)) copy_into(running_mean, rm);
    if (!rv.shares_storage(running_var)) copy_into(running_var, rv);
  }
  return out;
}

BatchNormGrads batchnorm2d_bwd(const Tensor& gy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                               const Tensor& save_invstd, bool training) {
  const char* op = "batchnorm2d_bwd";
  check_nchw(x, op);
  ENGINE_CHECK(gy.defined() && gy.shape() == x.shape() && gy.dtype() == x.dtype(),
               "op batchnorm2d_bwd: gradient " << (gy.defined() ? gy.header() : std::string("undefined"))
                                               << " does not match the input " << x.header());
  DType dt = channel_dtype(x, {&save_mean, &gamma}, op);
  check_channel_vector(gamma, x, dt, "gamma", op, true);
  check_channel_vector(save_mean, x, dt, "save_mean", op, false);
  check_channel_vector(save_invstd, x, dt, "save_invstd", op, false);
  BatchNormAttrs a{bn_params(x, training, 0.0, 0.0)};
  // gx and the kernel's gy take x's memory format.
  const MemoryFormat fmt = x.suggest_memory_format();
  a.p.channels_last = fmt == MemoryFormat::ChannelsLast;
  BatchNormGrads g;
  g.gx = Tensor::empty(x.shape(), fmt, x.dtype(), x.device());
  g.ggamma = Tensor::empty({a.p.C}, dt, x.device());
  g.gbeta = Tensor::empty({a.p.C}, dt, x.device());
  if (a.p.C == 0) return g;
  dispatch(OpCall{OpKind::BATCHNORM2D_BWD,
                  {gy.contiguous(fmt), x.contiguous(fmt), contiguous_or_undefined(gamma), save_mean.contiguous(),
                   save_invstd.contiguous()},
                  {g.gx, g.ggamma, g.gbeta},
                  &a});
  return g;
}

kernels::Pool2dParams pool2d_params(const Shape& x, const Pool2dOptions& o) {
  ENGINE_CHECK(x.size() == 4, "pool2d: expected an NCHW input, got " << shape_str(x));
  ENGINE_CHECK(o.kh > 0 && o.kw > 0 && o.sh > 0 && o.sw > 0 && o.ph >= 0 && o.pw >= 0,
               "pool2d: kernel " << o.kh << "x" << o.kw << ", stride " << o.sh << "x" << o.sw << ", padding " << o.ph
                                 << "x" << o.pw << ": kernel and stride must be positive, padding non-negative");
  // A window that is all padding would have no maximum (and no in-bounds element to average).
  ENGINE_CHECK(2 * o.ph <= o.kh && 2 * o.pw <= o.kw,
               "pool2d: padding " << o.ph << "x" << o.pw << " must be at most half the kernel " << o.kh << "x" << o.kw);
  kernels::Pool2dParams p;
  p.N = x[0];
  p.C = x[1];
  p.H = x[2];
  p.W = x[3];
  p.kh = o.kh;
  p.kw = o.kw;
  p.sh = o.sh;
  p.sw = o.sw;
  p.ph = o.ph;
  p.pw = o.pw;
  p.count_include_pad = o.count_include_pad;
  ENGINE_CHECK(p.H + 2 * p.ph >= p.kh && p.W + 2 * p.pw >= p.kw,
               "pool2d: kernel " << o.kh << "x" << o.kw << " is larger than the padded input " << shape_str(x)
                                 << " (padding " << o.ph << "x" << o.pw << ")");
  p.P = (p.H + 2 * p.ph - p.kh) / p.sh + 1;
  p.Q = (p.W + 2 * p.pw - p.kw) / p.sw + 1;
  return p;
}

MaxPoolOutput maxpool2d(const Tensor& x, const Pool2dOptions& o) {
  check_nchw(x, "maxpool2d");
  PoolAttrs a{pool2d_params(x.shape(), o)};
  const MemoryFormat fmt = x.suggest_memory_format();
  a.p.channels_last = fmt == MemoryFormat::ChannelsLast;
  MaxPoolOutput out;
  out.y = Tensor::empty({a.p.N, a.p.C, a.p.P, a.p.Q}, fmt, x.dtype(), x.device());
  out.indices = Tensor::empty(out.y.shape(), fmt, DType::i64, x.device());
  if (out.y.numel() == 0) return out;
  dispatch(OpCall{OpKind::MAXPOOL2D, {x.contiguous(fmt)}, {out.y, out.indices}, &a});
  return out;
}

Tensor maxpool2d_bwd(const Tensor& gy, const Tensor& indices, const Shape& x_shape, const Pool2dOptions& o) {
  PoolAttrs a{pool2d_params(x_shape, o)};
  check_grad_shape(gy, a.p, "maxpool2d_bwd");
  ENGINE_CHECK(indices.defined() && indices.dtype() == DType::i64 && indices.shape() == gy.shape(),
               "op maxpool2d_bwd: indices must be i64 of the gradient's shape " << shape_str(gy.shape()) << ", got "
                                                                                << indices.header());
  // gx takes gy's memory format (the autograd rule hands gy over in x's format).
  const MemoryFormat fmt = gy.suggest_memory_format();
  a.p.channels_last = fmt == MemoryFormat::ChannelsLast;
  Tensor gx = Tensor::empty(x_shape, fmt, gy.dtype(), gy.device());
  if (gx.numel() == 0) return gx;
  dispatch(OpCall{OpKind::MAXPOOL2D_BWD, {gy.contiguous(fmt), indices.contiguous(fmt)}, {gx}, &a});
  return gx;
}

Tensor avgpool2d(const Tensor& x, const Pool2dOptions& o) {
  check_nchw(x, "avgpool2d");
  PoolAttrs a{pool2d_params(x.shape(), o)};
  const MemoryFormat fmt = x.suggest_memory_format();
  a.p.channels_last = fmt == MemoryFormat::ChannelsLast;
  Tensor y = Tensor::empty({a.p.N, a.p.C, a.p.P, a.p.Q}, fmt, x.dtype(), x.device());
  if (y.numel() == 0) return y;
  dispatch(OpCall{OpKind::AVGPOOL2D, {x.contiguous(fmt)}, {y}, &a});
  return y;
}

Tensor avgpool2d_bwd(const Tensor& gy, const Shape& x_shape, const Pool2dOptions& o) {
  PoolAttrs a{pool2d_params(x_shape, o)};
  check_grad_shape(gy, a.p, "avgpool2d_bwd");
  const MemoryFormat fmt = gy.suggest_memory_format();
  a.p.channels_last = fmt == MemoryFormat::ChannelsLast;
  Tensor gx = Tensor::empty(x_shape, fmt, gy.dtype(), gy.device());
  if (gx.numel() == 0) return gx;
  dispatch(OpCall{OpKind::AVGPOOL2D_BWD, {gy.contiguous(fmt)}, {gx}, &a});
  return gx;
}

Tensor global_avgpool(const Tensor& x) {
  check_nchw(x, "global_avgpool");
  PoolAttrs a;
  a.p.N = x.size(0);
  a.p.C = x.size(1);
  a.p.H = x.size(2);
  a.p.W = x.size(3);
  a.p.kh = a.p.H;
  a.p.kw = a.p.W;
  a.p.P = a.p.Q = 1;
  ENGINE_CHECK(a.p.H * a.p.W > 0 || a.p.N * a.p.C == 0,
               "op global_avgpool: empty spatial extent in " << shape_str(x.shape()));
  const MemoryFormat fmt = x.suggest_memory_format();
  a.p.channels_last = fmt == MemoryFormat::ChannelsLast;
  Tensor y = Tensor::empty({a.p.N, a.p.C}, x.dtype(), x.device());
  if (y.numel() == 0) return y;
  dispatch(OpCall{OpKind::GLOBAL_AVGPOOL, {x.contiguous(fmt)}, {y}, &a});
  return y;
}

}  // namespace engine::ops
