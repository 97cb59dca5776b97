#include "engine/autograd/autocast.h"

#include "engine/autograd/functions.h"

namespace engine {
namespace {

thread_local bool t_enabled = false;
thread_local DType t_dtype = DType::f32;

bool is_low(DType d) { return d == DType::bf16 || d == DType::f16; }

// f64 > f32 > bf16, f16; bf16 beside f16 meet in f32.
DType wider(DType a, DType b) {
  if (a == b) return a;
  if (a == DType::f64 || b == DType::f64) return DType::f64;
  return DType::f32;
}

}  // namespace

bool autocast_enabled() { return t_enabled; }
DType autocast_dtype() { return t_dtype; }

AutocastGuard::AutocastGuard(DType dtype) : prev_enabled_(t_enabled), prev_dtype_(t_dtype) {
  ENGINE_CHECK(dtype == DType::bf16 || dtype == DType::f16 || dtype == DType::f32,
               "AutocastGuard: dtype must be bf16, f16 or f32 (off), got " << dtype_name(dtype));
  t_enabled = dtype != DType::f32;
  t_dtype = dtype;
}

AutocastGuard::~AutocastGuard() {
  t_enabled = prev_enabled_;
  t_dtype = prev_dtype_;
}

DType autocast_target(AutocastPolicy policy, const DType* dtypes, size_t n, DType fallback) {
  switch (policy) {
    case AutocastPolicy::LowPrecision:
      for (size_t i = 0; i < n; ++i)
        if (dtypes[i] == DType::f64) return fallback;  // f64 work is never lowered
      return t_dtype;
    case AutocastPolicy::Float32: {
      bool any_low = false;
      DType widest = dtypes[0];
      for (size_t i = 0; i < n; ++i) {
        any_low = any_low || is_low(dtypes[i]);
        widest = wider(widest, dtypes[i]);
      }
      return any_low ? wider(widest, DType::f32) : fallback;
    }
    case AutocastPolicy::Promote: {
      DType widest = dtypes[0];
      for (size_t i = 1; i < n; ++i) widest = wider(widest, dtypes[i]);
      return widest;
    }
  }
  return fallback;
}

Variable autocast_to(const Variable& x, DType dtype) {
  if (!x.defined() || !is_floating(x.dtype()) || x.dtype() == dtype) return x;
  return ag::cast(x, dtype);
}

}  // namespace engine
