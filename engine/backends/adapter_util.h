#pragma once
// Helpers shared by the CPU and CUDA adapters (engine/backends/<device>/), which unpack
// OpCalls into kernel calls.
#include "base/params.h"
#include "engine/core/op_kind.h"
#include "engine/core/tensor.h"

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

// The layout of an optional tensor (an empty one when it is undefined).
inline kernels::StridedLayout layout_or_empty(const Tensor& t) {
  return t.defined() ? layout_of(t) : kernels::StridedLayout{};
}

// The row reduction of a reduction op.
inline kernels::ReduceOp reduce_op(OpKind k) {
  switch (k) {
    case OpKind::SUM: return kernels::ReduceOp::Sum;
    case OpKind::MEAN: return kernels::ReduceOp::Mean;
    case OpKind::MAX: return kernels::ReduceOp::Max;
    default: return kernels::ReduceOp::Var;
  }
}

// An optional tensor's data, nullptr when it is absent.
template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace engine

// Dtype dispatch: ENGINE_DTYPE_CASE runs BODY with scalar_t bound to the storage type
// of one dtype; a dispatch macro lists the cases a device supports and throws for
// the others, naming the op and the dtype.
#define ENGINE_DTYPE_CASE(DT, T, ...) \
  case ::engine::DType::DT: {         \
    using scalar_t = T;               \
    __VA_ARGS__;                      \
    break;                            \
  }
#define ENGINE_DTYPE_UNSUPPORTED(dtype, op, what) \
  default:                                        \
    ENGINE_THROW("op " << ::engine::op_name(op) << ": dtype " << ::engine::dtype_name(dtype) << " has no " << what);

// CPU kernels take f32 and f64.
#define ENGINE_DISPATCH_FLOAT(dtype, op, ...)                                        \
  switch (dtype) {                                                                   \
    ENGINE_DTYPE_CASE(f32, float, __VA_ARGS__)                                       \
    ENGINE_DTYPE_CASE(f64, double, __VA_ARGS__)                                      \
    ENGINE_DTYPE_UNSUPPORTED(dtype, op, "cpu kernel (cpu kernels take f32 and f64)") \
  }
