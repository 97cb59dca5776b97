// Functional 2-D convolution: shape checks, output allocation and dispatch of the
// forward op and of its two backward ops (data and filter gradients). A channels-last
// x gives a channels-last y (Conv2dParams::channels_last tells the kernels); filters
// are always [K, C/groups, R, S] row-major.
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"

namespace engine::ops {
namespace {

void check_float_pair(const char* op, const char* na, const Tensor& a, const char* nb, const Tensor& b) {
  ENGINE_CHECK(a.defined() && b.defined(), "op " << op << ": undefined input");
  ENGINE_CHECK(a.dtype() == b.dtype(),
               "op " << op << ": dtypes differ: " << na << " " << a.header() << " and " << nb << " " << b.header());
}

Shape out_shape(const kernels::Conv2dParams& p) { return {p.N, p.K, p.P, p.Q}; }

}  // namespace

kernels::Conv2dParams conv2d_params(const Shape& x, const Shape& w, const Conv2dOptions& o) {
  ENGINE_CHECK(x.size() == 4 && w.size() == 4, "op conv2d: expected x [N, C, H, W] and w [K, C/groups, R, S], got x "
                                                   << shape_str(x) << " and w " << shape_str(w));
  ENGINE_CHECK(o.stride_h >= 1 && o.stride_w >= 1 && o.dil_h >= 1 && o.dil_w >= 1 && o.pad_h >= 0 && o.pad_w >= 0,
               "op conv2d: stride and dilation must be >= 1 and padding >= 0, got stride ("
                   << o.stride_h << ", " << o.stride_w << "), padding (" << o.pad_h << ", " << o.pad_w
                   << "), dilation (" << o.dil_h << ", " << o.dil_w << ")");
  ENGINE_CHECK(o.groups >= 1 && x[1] % o.groups == 0 && w[0] % o.groups == 0,
               "op conv2d: groups = " << o.groups << " must divide the input channels and the filters, got x "
                                      << shape_str(x) << " and w " << shape_str(w));
  ENGINE_CHECK(w[1] * o.groups == x[1],
               "op conv2d: w must be [K, C/groups = " << x[1] / o.groups << ", R, S] for groups = " << o.groups
                                                      << ", got x " << shape_str(x) << " and w " << shape_str(w));
  kernels::Conv2dParams p;
  p.N = x[0];
  p.C = x[1];
  p.H = x[2];
  p.W = x[3];
  p.K = w[0];
  p.R = w[2];
  p.S = w[3];
  p.stride_h = o.stride_h;
  p.stride_w = o.stride_w;
  p.pad_h = o.pad_h;
  p.pad_w = o.pad_w;
  p.dil_h = o.dil_h;
  p.dil_w = o.dil_w;
  p.groups = o.groups;
  const int64_t span_h = o.dil_h * (p.R - 1) + 1, span_w = o.dil_w * (p.S - 1) + 1;
  ENGINE_CHECK(p.R >= 1 && p.S >= 1 && p.H + 2 * p.pad_h >= span_h && p.W + 2 * p.pad_w >= span_w,
               "op conv2d: the (dilated) kernel " << span_h << "x" << span_w << " does not fit the padded input "
                                                  << p.H + 2 * p.pad_h << "x" << p.W + 2 * p.pad_w << ": x "
                                                  << shape_str(x) << ", w " << shape_str(w));
  p.P = (p.H + 2 * p.pad_h - span_h) / p.stride_h + 1;
  p.Q = (p.W + 2 * p.pad_w - span_w) / p.stride_w + 1;
  return p;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dOptions& o) {
  check_float_pair("conv2d", "x", x, "w", w);
  ConvAttrs at{conv2d_params(x.shape(), w.shape(), o)};
  if (bias.defined()) {
    check_float_pair("conv2d", "x", x, "bias", bias);
    ENGINE_CHECK(bias.dim() == 1 && bias.size(0) == at.p.K, "op conv2d: bias must be [K], got bias "
                                                                << shape_str(bias.shape()) << " for w "
                                                                << shape_str(w.shape()));
  }
  const MemoryFormat fmt = x.suggest_memory_format();
  at.p.channels_last = fmt == MemoryFormat::ChannelsLast;
  Tensor y = Tensor::empty(out_shape(at.p), fmt, x.dtype(), x.device());
  if (y.numel() == 0) return y;
  dispatch(OpCall{
      OpKind::CONV2D, {x.contiguous(fmt), w.contiguous(), bias.defined() ? bias.contiguous() : Tensor()}, {y}, &at});
  return y;
}

Tensor conv2d_bwd_data(const Tensor& gy, const Tensor& w, const Shape& x_shape, const Conv2dOptions& o) {
  check_float_pair("conv2d_bwd_data", "gy", gy, "w", w);
  ConvAttrs at{conv2d_params(x_shape, w.shape(), o)};
  ENGINE_CHECK(gy.shape() == out_shape(at.p), "op conv2d_bwd_data: gy "
                                                  << shape_str(gy.shape()) << " does not match the output shape "
                                                  << shape_str(out_shape(at.p)) << " of x " << shape_str(x_shape)
                                                  << " and w " << shape_str(w.shape()));
  // gx takes gy's memory format (the autograd rule hands gy over in x's format).
  const MemoryFormat fmt = gy.suggest_memory_format();
  at.p.channels_last = fmt == MemoryFormat::ChannelsLast;
  Tensor gx = Tensor::empty(x_shape, fmt, gy.dtype(), gy.device());
  if (gx.numel() == 0) return gx;
  dispatch(OpCall{OpKind::CONV2D_BWD_DATA, {gy.contiguous(fmt), w.contiguous()}, {gx}, &at});
  return gx;
}

Tensor conv2d_bwd_filter(const Tensor& gy, const Tensor& x, const Shape& w_shape, const Conv2dOptions& o) {
  check_float_pair("conv2d_bwd_filter", "gy", gy, "x", x);
  ConvAttrs at{conv2d_params(x.shape(), w_shape, o)};
  ENGINE_CHECK(gy.shape() == out_shape(at.p), "op conv2d_bwd_filter: gy "
                                                  << shape_str(gy.shape()) << " does not match the output shape "
                                                  << shape_str(out_shape(at.p)) << " of x " << shape_str(x.shape())
                                                  << " and w " << shape_str(w_shape));
  const MemoryFormat fmt = x.suggest_memory_format();
  at.p.channels_last = fmt == MemoryFormat::ChannelsLast;
  Tensor gw = Tensor::empty(w_shape, gy.dtype(), gy.device());
  if (gw.numel() == 0) return gw;
  dispatch(OpCall{OpKind::CONV2D_BWD_FILTER, {gy.contiguous(fmt), x.contiguous(fmt)}, {gw}, &at});
  return gw;
}

}  // namespace engine::ops
