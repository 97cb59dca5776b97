// The CPU backend registers itself before main(): every CPU adapter into the op
// table, and a runner that sends calls holding bf16/f16 tensors through the f32
// stand-ins of lowp.h. The build links this file whole (WHOLE_ARCHIVE), so that no
// caller has to name it.
#include "engine/backends/cpu/adapter.h"
#include "engine/backends/cpu/lowp.h"
#include "engine/core/backend.h"

namespace engine {
namespace {

void run_cpu(const OpCall& call, KernelFn fn) {
  if (cpu_needs_lowp(call)) {
    run_cpu_lowp(call, fn);
    return;
  }
  fn(call);
}

bool register_cpu_backend() {
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
  register_cpu_transformer();
  DeviceBackend b;
  b.run = run_cpu;
  register_device_backend(DeviceType::CPU, b);
  return true;
}

const bool g_registered = register_cpu_backend();

}  // namespace
}  // namespace engine
