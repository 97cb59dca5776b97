// CPU adapters for the convolution family. f32 runs through oneDNN when the build has it
// (NCHW or channels-last in place), and so does bf16 (all operands bf16, f32
// accumulation) forward and backward-data on a CPU with bf16 arithmetic (AVX-512 BF16 or
// AMX, asked at run time), backward-filter too where that is AMX; elsewhere bf16 takes
// the f32 stand-ins of lowp.h (f32 oneDNN on the widened operands). ENGINE_CPU_CONV=im2col forces the
// im2col kernels (bf16 through the stand-ins), which are also the path of f64 and of
// builds without oneDNN. Those kernels are NCHW
// only: channels-last operands go through row-major copies (the simple path; they are
// the reference).
#include "kernels/cpu/conv.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/backends/cpu/adapter.h"
#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "kernels/cpu/conv_onednn.h"

namespace engine {
namespace {
using namespace kernels;

// Whether a convolution of dtype d runs through oneDNN. ENGINE_CPU_CONV is read at every
// call (tests switch it): "im2col" or "onednn"; unset means oneDNN when built.
bool use_onednn(DType d) {
  const char* v = std::getenv("ENGINE_CPU_CONV");
  const std::string choice = v ? v : "";
  ENGINE_CHECK(choice.empty() || choice == "im2col" || choice == "onednn",
               "ENGINE_CPU_CONV must be im2col or onednn, got '" << choice << "'");
  ENGINE_CHECK(choice != "onednn" || conv2d_onednn_built(),
               "ENGINE_CPU_CONV=onednn, but this build has no oneDNN (install libdnnl-dev and reconfigure)");
  if (choice == "im2col" || !conv2d_onednn_built()) return false;
  return d == DType::f32 || (d == DType::bf16 && conv2d_onednn_bf16_native());  // oneDNN has no f64
}

ConvDType conv_dtype(DType d) { return d == DType::bf16 ? ConvDType::bf16 : ConvDType::f32; }

// The operand dense in the layout p names (ops/conv.cpp hands them over so; a copy otherwise).
Tensor dense(const Tensor& t, const Conv2dParams& p) {
  return t.contiguous(p.channels_last ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous);
}
// An output oneDNN can write in place, or a dense scratch copied back by finish().
Tensor dense_out(const Tensor& out, const Conv2dParams& p) {
  const MemoryFormat f = p.channels_last ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
  return out.is_contiguous(f) ? out : Tensor::empty(out.shape(), f, out.dtype(), out.device());
}

// A row-major scratch output for a channels-last one, copied back by finish().
Tensor nchw_out(const Tensor& out, const Conv2dParams& p) {
  return p.channels_last ? Tensor::empty(out.shape(), out.dtype(), out.device()) : out;
}
void finish(const Tensor& out, const Tensor& scratch) {
  if (!scratch.shares_storage(out)) Tensor(out).copy_from(scratch);
}

void conv2d_cpu(const OpCall& c) {
  const auto& p = c.get<ConvAttrs>().p;
  if (use_onednn(c.out[0].dtype())) {
    const Tensor x = dense(c.in[0], p), w = c.in[1].contiguous(), y = dense_out(c.out[0], p);
    const Tensor bias = c.in[2].defined() ? c.in[2].contiguous() : Tensor();
    conv2d_fwd_onednn(y.data_ptr(), x.data_ptr(), w.data_ptr(), bias.defined() ? bias.data_ptr() : nullptr, p,
                      conv_dtype(y.dtype()));
    finish(c.out[0], y);
    return;
  }
  const Tensor x = c.in[0].contiguous(), &w = c.in[1], &bias = c.in[2], y = nchw_out(c.out[0], p);
  ENGINE_DISPATCH_FLOAT(y.dtype(), c.op,
                        conv2d_fwd_cpu<scalar_t>(y.data<scalar_t>(), x.data<scalar_t>(), w.data<scalar_t>(),
                                                 bias.defined() ? bias.data<scalar_t>() : nullptr, p));
  finish(c.out[0], y);
}

void conv2d_bwd_data_cpu_adapter(const OpCall& c) {
  const auto& p = c.get<ConvAttrs>().p;
  if (use_onednn(c.out[0].dtype())) {
    const Tensor gy = dense(c.in[0], p), w = c.in[1].contiguous(), gx = dense_out(c.out[0], p);
    conv2d_bwd_data_onednn(gx.data_ptr(), gy.data_ptr(), w.data_ptr(), p, conv_dtype(gx.dtype()));
    finish(c.out[0], gx);
    return;
  }
  const Tensor gy = c.in[0].contiguous(), &w = c.in[1], gx = nchw_out(c.out[0], p);
  ENGINE_DISPATCH_FLOAT(gx.dtype(), c.op,
                        conv2d_bwd_data_cpu<scalar_t>(gx.data<scalar_t>(), gy.data<scalar_t>(), w.data<scalar_t>(), p));
  finish(c.out[0], gx);
}

void conv2d_bwd_filter_cpu_adapter(const OpCall& c) {
  const auto& p = c.get<ConvAttrs>().p;
  if (use_onednn(c.out[0].dtype())) {
    const Tensor gy = dense(c.in[0], p), x = dense(c.in[1], p), gw = c.out[0].contiguous();
    conv2d_bwd_filter_onednn(gw.data_ptr(), gy.data_ptr(), x.data_ptr(), p, conv_dtype(gw.dtype()));
    finish(c.out[0], gw);
    return;
  }
  const Tensor gy = c.in[0].contiguous(), x = c.in[1].contiguous(), &gw = c.out[0];
  ENGINE_DISPATCH_FLOAT(gw.dtype(), c.op,
                        conv2d_bwd_filter_cpu<scalar_t>(gw.data<scalar_t>(), gy.data<scalar_t>(), x.data<scalar_t>(),
                                                        c.get<ConvAttrs>().p));
}

}  // namespace

// Backward-filter runs in bf16 on AMX only: oneDNN 2.x's bf16 backward-filter kernels for
// AVX-512 BF16 without AMX took 5-20x the f32 ones' time at ResNet's stride-2 3x3 shapes,
// so there it stays on the f32 stand-ins. (On AMX they reach 1.9 TFLOP/s at 64 channels
// 32x32, batch 32; the shapes with few output pixels go through one GEMM instead,
// conv_wgrad_gemm.h.)
bool cpu_conv_runs_bf16(const OpCall& c) {
  if (c.op != OpKind::CONV2D && c.op != OpKind::CONV2D_BWD_DATA &&
      !(c.op == OpKind::CONV2D_BWD_FILTER && conv2d_onednn_amx()))
    return false;
  for (const Tensor& t : c.in)
    if (t.defined() && t.dtype() != DType::bf16) return false;
  for (const Tensor& t : c.out)
    if (t.defined() && t.dtype() != DType::bf16) return false;
  return use_onednn(DType::bf16);
}

void register_cpu_conv() {
  register_kernel(OpKind::CONV2D, DeviceType::CPU, conv2d_cpu);
  register_kernel(OpKind::CONV2D_BWD_DATA, DeviceType::CPU, conv2d_bwd_data_cpu_adapter);
  register_kernel(OpKind::CONV2D_BWD_FILTER, DeviceType::CPU, conv2d_bwd_filter_cpu_adapter);
}

}  // namespace engine
