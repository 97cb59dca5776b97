#include "engine/core/dispatch.h"

#include <atomic>

#include "engine/core/backend.h"

namespace engine {
namespace {

struct Entry {
  KernelFn fn;
  DTypeMask dtypes;
};
// Constant-initialised: backends fill it before main() (engine/core/backend.h).
Entry g_table[kNumOps][kNumDeviceTypes] = {};
std::atomic<DispatchObserver> g_observer{nullptr};

}  // namespace

void register_kernel(OpKind op, DeviceType dev, KernelFn fn, DTypeMask dtypes) {
  g_table[int(op)][int(dev)] = Entry{fn, dtypes};
}

bool has_kernel(OpKind op, DeviceType dev) {
  runtime::ensure_backends_registered();
  return g_table[int(op)][int(dev)].fn != nullptr;
}

bool supports(OpKind op, DeviceType dev, DType dtype) {
  runtime::ensure_backends_registered();
  const Entry& e = g_table[int(op)][int(dev)];
  return e.fn != nullptr && (e.dtypes & dtype_bit(dtype)) != 0;
}

void set_dispatch_observer(DispatchObserver fn) { g_observer.store(fn); }

void dispatch(const OpCall& call) {
  runtime::ensure_backends_registered();
  const Tensor* first = nullptr;
  auto check = [&](const Tensor& t) {
    if (!t.defined()) return;
    if (!first) {
      first = &t;
      return;
    }
    ENGINE_CHECK(t.device() == first->device(), "op " << op_name(call.op) << ": all tensors must be on one device, got "
                                                      << first->device().str() << " and " << t.device().str());
  };
  for (const Tensor& t : call.in) check(t);
  for (const Tensor& t : call.out) check(t);
  ENGINE_CHECK(first != nullptr, "op " << op_name(call.op) << " called with no tensors");
  DeviceType dev = first->device().type;
  KernelFn fn = g_table[int(call.op)][int(dev)].fn;
  ENGINE_CHECK(fn != nullptr, "op " << op_name(call.op) << " has no " << device_type_name(dev) << " kernel");
  if (DispatchObserver obs = g_observer.load(std::memory_order_relaxed)) obs(call.op, dev);
  const DeviceBackend* backend = registered_backend(dev);
  if (backend != nullptr && backend->run != nullptr) {
    backend->run(call, fn);
    return;
  }
  fn(call);
}

}  // namespace engine
