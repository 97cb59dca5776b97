#include "engine/ops/dispatch.h"

#include <atomic>
#include <mutex>

#include "engine/ops/cpu_lowp.h"
#include "engine/runtime/backend.h"

namespace engine {
namespace {

KernelFn g_table[kNumOps][kNumDeviceTypes] = {};
std::atomic<DispatchObserver> g_observer{nullptr};

void register_builtin() {
  register_cpu_elementwise();
  register_cpu_reduce();
  register_cpu_linalg();
  register_cpu_conv();
  register_cpu_norm_pool();
  register_cpu_norm_act();
  register_cpu_softmax();
  register_cpu_index();
  register_cpu_misc();
  register_cpu_optim();
  register_cpu_amp();
  register_cpu_moe();
  register_cpu_augment();
}

void ensure_table() {
  static std::once_flag once;
  std::call_once(once, register_builtin);
  runtime::ensure_backends_registered();
}

}  // namespace

void register_kernel(OpKind op, DeviceType dev, KernelFn fn) { g_table[int(op)][int(dev)] = fn; }

bool has_kernel(OpKind op, DeviceType dev) {
  ensure_table();
  return g_table[int(op)][int(dev)] != nullptr;
}

void set_dispatch_observer(DispatchObserver fn) { g_observer.store(fn); }

void dispatch(const OpCall& call) {
  ensure_table();
  const Tensor* first = nullptr;
  auto check = [&](const Tensor& t) {
    if (!t.defined()) return;
    if (!first) {
      first = &t;
      return;
    }
    ENGINE_CHECK(t.device() == first->device(), "op " << op_name(call.op)
                                                       << ": all tensors must be on one device, got "
                                                       << first->device().str() << " and " << t.device().str());
  };
  for (const Tensor& t : call.in) check(t);
  for (const Tensor& t : call.out) check(t);
  ENGINE_CHECK(first != nullptr, "op " << op_name(call.op) << " called with no tensors");
  DeviceType dev = first->device().type;
  KernelFn fn = g_table[int(call.op)][int(dev)];
  ENGINE_CHECK(fn != nullptr, "op " << op_name(call.op) << " has no " << device_type_name(dev) << " kernel");
  if (DispatchObserver obs = g_observer.load(std::memory_order_relaxed)) obs(call.op, dev);
  if (dev == DeviceType::CPU && cpu_needs_lowp(call)) {
    run_cpu_lowp(call, fn);
    return;
  }
  fn(call);
}

}  // namespace engine
