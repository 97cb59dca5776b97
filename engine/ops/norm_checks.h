#pragma once
// Input checks shared by the batch-norm ops (engine/ops/norm_pool.cpp, norm_act.cpp).
#include <initializer_list>

#include "engine/core/tensor.h"

namespace engine::ops::norm_checks {

inline void check_nchw(const Tensor& x, const char* op) {
  ENGINE_CHECK(x.defined(), "op " << op << ": undefined input");
  ENGINE_CHECK(x.dim() == 4, "op " << op << ": expected an NCHW input, got " << shape_str(x.shape()));
}

// The dtype of the [C] parameters and statistics: the first defined one's, else x's. It
// must be x's dtype, or f32 beside a bf16/f16 x (low-precision activations, f32
// parameters and statistics).
inline DType channel_dtype(const Tensor& x, std::initializer_list<const Tensor*> ts, const char* op) {
  DType dt = x.dtype();
  for (const Tensor* t : ts)
    if (t->defined()) {
      dt = t->dtype();
      break;
    }
  if (dt == x.dtype()) return dt;
  bool lowp = x.dtype() == DType::bf16 || x.dtype() == DType::f16;
  ENGINE_CHECK(lowp && dt == DType::f32, "op " << op << ": parameters and statistics of dtype " << dtype_name(dt)
                                               << " need an input of that dtype (or bf16/f16 with f32 parameters), got "
                                               << x.header());
  return dt;
}

// A [C] parameter or statistic of dtype dt; undefined is allowed when optional.
inline void check_channel_vector(const Tensor& t, const Tensor& x, DType dt, const char* what, const char* op,
                                 bool optional) {
  if (!t.defined()) {
    ENGINE_CHECK(optional, "op " << op << ": " << what << " is required");
    return;
  }
  int64_t C = x.size(1);
  ENGINE_CHECK(t.shape() == Shape{C}, "op " << op << ": " << what << " must have shape [" << C << "] for input "
                                            << shape_str(x.shape()) << ", got " << shape_str(t.shape()));
  ENGINE_CHECK(t.dtype() == dt, "op " << op << ": " << what << " must be " << dtype_name(dt)
                                      << " like the other [C] tensors, got " << t.header());
}

inline Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? t.contiguous() : t; }

}  // namespace engine::ops::norm_checks
