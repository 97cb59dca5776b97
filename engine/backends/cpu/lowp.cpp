#include "engine/backends/cpu/lowp.h"

#include <cstring>
#include <vector>

#include "engine/backends/cpu/adapter.h"
#include "kernels/cpu/convert.h"

namespace engine {
namespace {

// Elements from a view's first element to its last reachable one.
int64_t span_of(const Tensor& t) {
  if (t.numel() == 0) return 0;
  int64_t s = 1;
  for (int64_t i = 0; i < t.dim(); ++i) {
    ENGINE_CHECK(t.strides()[size_t(i)] >= 0,
                 "reduced-precision cpu path: negative strides are not supported, got " << t.header());
    s += (t.shape()[size_t(i)] - 1) * t.strides()[size_t(i)];
  }
  return s;
}

void widen(float* dst, const void* src, DType dt, int64_t n) {
  const uint16_t* s = static_cast<const uint16_t*>(src);
  if (dt == DType::bf16) {
    kernels::bf16_to_f32_cpu(dst, s, n);
  } else {
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_float(f16_t{s[i]});
  }
}

void narrow(uint16_t* dst, const float* src, DType dt, int64_t n) {
  if (dt == DType::bf16) {
    kernels::f32_to_bf16_cpu(dst, src, n);
  } else {
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) dst[i] = float_to_f16(src[i]).bits;
  }
}

bool same_view(const Tensor& a, const Tensor& b) {
  return a.shares_storage(b) && a.offset() == b.offset() && a.shape() == b.shape() && a.strides() == b.strides() &&
         a.dtype() == b.dtype();
}

// One f32 stand-in per distinct low-precision view, so that a tensor passed twice
// (in place: an input that is also an output) maps to one buffer.
struct Stand {
  Tensor orig, wide;
  int64_t span = 0;
};

}  // namespace

bool is_low_precision(DType d) { return d == DType::bf16 || d == DType::f16; }

bool cpu_needs_lowp(const OpCall& call) {
  switch (call.op) {
    case OpKind::COPY:
    case OpKind::FILL:
    case OpKind::RNG_UNIFORM:
    case OpKind::RNG_NORMAL:
    case OpKind::INDEX_SELECT: return false;  // copies rows of any dtype (bf16, f16 as bits)
    case OpKind::CONV2D:
    case OpKind::CONV2D_BWD_DATA:
    case OpKind::CONV2D_BWD_FILTER:
      if (cpu_conv_runs_bf16(call)) return false;
      break;
    case OpKind::BATCHNORM2D_ACT:
    case OpKind::BATCHNORM2D_ACT_BWD:
      if (cpu_norm_act_runs_bf16(call)) return false;
      break;
    case OpKind::MATMUL:
    case OpKind::LINEAR:
    case OpKind::MOE_GROUPED_MATMUL:
    case OpKind::MOE_GROUPED_MATMUL_BWD_DATA:
    case OpKind::MOE_GROUPED_MATMUL_BWD_WEIGHT:
      if (cpu_gemm_runs_bf16(call)) return false;
      break;
    default:  // the elementwise ops on dense bf16
      if (cpu_elementwise_runs_bf16(call)) return false;
      break;
  }
  for (const Tensor& t : call.in)
    if (t.defined() && is_low_precision(t.dtype())) return true;
  for (const Tensor& t : call.out)
    if (t.defined() && is_low_precision(t.dtype())) return true;
  return false;
}

void run_cpu_lowp(const OpCall& call, KernelFn fn) {
  std::vector<Stand> stands;
  auto stand_in = [&](const Tensor& t) -> Tensor {
    if (!t.defined() || !is_low_precision(t.dtype())) return t;
    for (const Stand& s : stands)
      if (same_view(s.orig, t)) return s.wide;
    Stand s;
    s.orig = t;
    s.span = span_of(t);
    // Outputs are widened too: optimizer states and running statistics are read
    // before they are written, and a strided output keeps the elements between its own.
    Tensor buf = Tensor::empty({s.span}, DType::f32, Device::cpu());
    widen(buf.data<float>(), t.data_ptr(), t.dtype(), s.span);
    s.wide = buf.as_strided(t.shape(), t.strides(), 0);
    stands.push_back(s);
    return s.wide;
  };
  OpCall wide{call.op, {}, {}, call.attrs};
  for (const Tensor& t : call.in) wide.in.push_back(stand_in(t));
  for (const Tensor& t : call.out) wide.out.push_back(stand_in(t));
  fn(wide);
  // Round back every stand-in whose rounded value changed: the outputs, and inputs a
  // kernel updates in place (batch-norm running statistics). Unchanged inputs
  // round-trip exactly and are left untouched.
  thread_local std::vector<uint16_t> rounded;  // kept between calls: no allocation per op
  for (const Stand& s : stands) {
    rounded.resize(static_cast<size_t>(s.span));
    narrow(rounded.data(), static_cast<const float*>(s.wide.data_ptr()), s.orig.dtype(), s.span);
    size_t bytes = rounded.size() * sizeof(uint16_t);
    if (std::memcmp(rounded.data(), s.orig.data_ptr(), bytes) != 0)
      std::memcpy(s.orig.data_ptr(), rounded.data(), bytes);
  }
}

}  // namespace engine
