#pragma once
// Helpers for the device adapters that unpack OpCalls into kernel calls.
#include "engine/core/tensor.h"
#include "engine/ops/op_kind.h"
#include "kernels/params.h"

namespace engine {

inline kernels::StridedLayout layout_of(const Tensor& t) {
  ENGINE_CHECK(t.dim() <= kernels::kMaxDims,
               "tensors of more than " << kernels::kMaxDims << " dims are not supported, got " << t.header());
  kernels::StridedLayout l;
  l.ndim = int(t.dim());
  for (int i = 0; i < l.ndim; ++i) {
    l.shape[i] = t.shape()[size_t(i)];
    l.strides[i] = t.strides()[size_t(i)];
  }
  l.contiguous = t.is_contiguous();
  return l;
}

}  // namespace engine

// Runs BODY with scalar_t bound to the C++ type of a floating dtype (f32, f64).
#define ENGINE_DISPATCH_FLOAT(dtype, op, ...)                                                    \
  switch (dtype) {                                                                               \
    case ::engine::DType::f32: {                                                                 \
      using scalar_t = float;                                                                    \
      __VA_ARGS__;                                                                               \
      break;                                                                                     \
    }                                                                                            \
    case ::engine::DType::f64: {                                                                 \
      using scalar_t = double;                                                                   \
      __VA_ARGS__;                                                                               \
      break;                                                                                     \
    }                                                                                            \
    default:                                                                                     \
      ENGINE_THROW("op " << ::engine::op_name(op) << ": dtype " << ::engine::dtype_name(dtype)  \
                         << " has no cpu kernel (cpu kernels take f32 and f64)");                \
  }
