#pragma once
// Run-time dispatch: one kernel table indexed by (op, device type). A functional op
// (engine/ops/functional.h) checks its inputs, allocates outputs, fills an OpCall and
// dispatches; the adapter that a backend (engine/backends/<device>/) registered for
// the device unpacks raw pointers and calls kernels/<device>.
#include <vector>

#include "engine/core/op_kind.h"
#include "engine/core/tensor.h"

namespace engine {

struct OpCall {
  OpKind op;
  std::vector<Tensor> in;
  std::vector<Tensor> out;      // allocated by the caller
  const void* attrs = nullptr;  // the op's attribute struct (engine/core/attrs.h)

  template <class A>
  const A& get() const {
    return *static_cast<const A*>(attrs);
  }
};

using KernelFn = void (*)(const OpCall&);

// The dtypes a kernel takes, one bit per DType. An op's dtype is that of its data: the
// first floating-point input, or the first output for ops without one (fills, random
// numbers); index tensors do not count.
using DTypeMask = uint32_t;
constexpr DTypeMask dtype_bit(DType d) { return DTypeMask(1) << unsigned(d); }
// f32 and f64 computed natively; bf16 and f16 computed in f32 (on the CPU through the
// generic reduced-precision path of engine/backends/cpu/lowp.h).
constexpr DTypeMask kFloatDTypes =
    dtype_bit(DType::f32) | dtype_bit(DType::f64) | dtype_bit(DType::bf16) | dtype_bit(DType::f16);
constexpr DTypeMask kF32F64 = dtype_bit(DType::f32) | dtype_bit(DType::f64);
constexpr DTypeMask kAllDTypes = (DTypeMask(1) << kNumDTypes) - 1;

void register_kernel(OpKind op, DeviceType dev, KernelFn fn, DTypeMask dtypes = kFloatDTypes);
bool has_kernel(OpKind op, DeviceType dev);
// Whether op has a kernel on dev that takes dtype: asked of the table, so that a
// caller (a test runner, a fallback) need not find out from an exception.
bool supports(OpKind op, DeviceType dev, DType dtype);
// Checks that every defined input and output shares one device, then runs the kernel
// registered for it; throws "op X has no <device> kernel" when there is none.
void dispatch(const OpCall& call);
// Sees every call dispatch() is about to run (op and device known); nullptr removes it.
// For tests that check which ops a piece of code dispatched (the op-case coverage test).
using DispatchObserver = void (*)(OpKind op, DeviceType dev);
void set_dispatch_observer(DispatchObserver fn);

}  // namespace engine
