#pragma once
// Run-time dispatch: one kernel table indexed by (op, device type). engine/ops is the
// only place that turns Tensors into kernel calls: a functional op (functional.h)
// checks its inputs, allocates outputs, fills an OpCall and dispatches; the adapter
// registered for the device unpacks raw pointers and calls kernels/<device>.
#include <vector>

#include "engine/core/tensor.h"
#include "engine/ops/op_kind.h"

namespace engine {

struct OpCall {
  OpKind op;
  std::vector<Tensor> in;
  std::vector<Tensor> out;      // allocated by the caller
  const void* attrs = nullptr;  // the op's attribute struct (engine/ops/attrs.h)

  template <class A>
  const A& get() const {
    return *static_cast<const A*>(attrs);
  }
};

using KernelFn = void (*)(const OpCall&);

void register_kernel(OpKind op, DeviceType dev, KernelFn fn);
bool has_kernel(OpKind op, DeviceType dev);
// Checks that every defined input and output shares one device, then runs the kernel
// registered for it; throws "op X has no <device> kernel" when there is none.
void dispatch(const OpCall& call);
// Sees every call dispatch() is about to run (op and device known); nullptr removes it.
// For tests that check which ops a piece of code dispatched (the op-case coverage test).
using DispatchObserver = void (*)(OpKind op, DeviceType dev);
void set_dispatch_observer(DispatchObserver fn);

// Each op family's CPU adapter file defines one of these (engine/ops/cpu_*.cpp).
void register_cpu_elementwise();
void register_cpu_reduce();
void register_cpu_linalg();
void register_cpu_conv();
void register_cpu_norm_pool();
void register_cpu_norm_act();
void register_cpu_softmax();
void register_cpu_index();
void register_cpu_misc();
void register_cpu_optim();
void register_cpu_amp();
void register_cpu_moe();
void register_cpu_augment();

}  // namespace engine
