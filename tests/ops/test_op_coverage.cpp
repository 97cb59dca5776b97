// Coverage of the op-case table: every op with a kernel on a device (VIEW and GRAPH ops
// have none of their own) has a case that runs on that device. What a case runs is
// recorded by a dispatch observer, not taken from its declared list; on the CPU every
// case also runs, and its declared ops must all be among those it dispatched.
#include <iostream>
#include <mutex>
#include <set>

#include "engine/backends/cuda/context.h"
#include "engine/core/backend.h"
#include "engine/core/dispatch.h"
#include "opcases/op_cases.h"
#include "test_util.h"

using namespace engine;
using namespace engine::opcases;

namespace {

std::mutex g_mu;
std::set<std::pair<OpKind, DeviceType>> g_seen;

void observe(OpKind op, DeviceType dev) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_seen.insert({op, dev});
}

// Runs the case once on dev (its first dtype) and returns the ops dispatched there.
std::set<OpKind> dispatched(const OpCase& c, Device dev) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_seen.clear();
  }
  set_dispatch_observer(observe);
  DType d = c.dtypes.front();
  std::vector<Tensor> in;
  if (c.make) {
    for (const Tensor& t : c.make(d)) {
      Tensor x = dev.is_cpu() && c.twin ? cpu_twin(t) : t;
      in.push_back(x.defined() ? x.to(dev) : x);
    }
  }
  {
    EnvScope env(c.env);
    c.run(in, dev.is_cpu() && c.twin ? DType::f32 : d, dev);
  }
  set_dispatch_observer(nullptr);
  std::set<OpKind> ops;
  std::lock_guard<std::mutex> lock(g_mu);
  for (const auto& [op, t] : g_seen)
    if (t == dev.type) ops.insert(op);
  return ops;
}

bool has_own_kernel(OpKind op) { return op_needs_kernel(op); }

std::string names(const std::vector<OpKind>& ops) {
  std::string s;
  for (OpKind op : ops) s += std::string(s.empty() ? "" : ", ") + op_name(op);
  return s;
}

}  // namespace

TEST_CASE("op cases: every op with a CPU kernel has a case, and each case dispatches the ops it names", "[ops]") {
  std::set<OpKind> covered;
  for (const OpCase& c : op_cases()) {
    if (c.dtypes.empty() || !c.run) continue;
    std::set<OpKind> ops = dispatched(c, Device::cpu());
    covered.insert(ops.begin(), ops.end());
    std::vector<OpKind> absent;
    for (OpKind op : c.ops)
      if (!ops.count(op)) absent.push_back(op);
    INFO(c.name << ": names ops it did not dispatch on the CPU: " << names(absent));
    CHECK(absent.empty());
  }
  std::vector<OpKind> missing;
  int with_kernel = 0;
  for (int i = 0; i < kNumOps; ++i) {
    OpKind op = OpKind(i);
    if (!has_own_kernel(op) || !has_kernel(op, DeviceType::CPU)) continue;
    ++with_kernel;
    if (!covered.count(op)) missing.push_back(op);
  }
  std::cout << op_cases().size() << " op cases; ops with a CPU kernel: " << with_kernel
            << ", run by a case: " << with_kernel - int(missing.size()) << std::endl;
  INFO("ops with a CPU kernel and no case: " << names(missing));
  CHECK(missing.empty());
}

TEST_CASE("op cases: every op with a CUDA kernel has a case that runs it on CUDA", "[cuda][ops]") {
  testing::require_cuda();
  std::vector<OpKind> missing;
  int with_kernel = 0;
  for (int i = 0; i < kNumOps; ++i) {
    OpKind op = OpKind(i);
    if (!has_own_kernel(op) || !has_kernel(op, DeviceType::CUDA)) continue;
    ++with_kernel;
    bool found = false;
    // The first case naming the op must dispatch it on the device.
    for (const OpCase& c : op_cases()) {
      if (c.dtypes.empty() || !c.run || std::find(c.ops.begin(), c.ops.end(), op) == c.ops.end()) continue;
      found = dispatched(c, Device::cuda(0)).count(op) > 0;
      break;
    }
    if (!found) missing.push_back(op);
  }
  std::cout << "ops with a CUDA kernel: " << with_kernel
            << ", run there by a case: " << with_kernel - int(missing.size()) << std::endl;
  INFO("ops with a CUDA kernel and no case running them there: " << names(missing));
  CHECK(missing.empty());
  CHECK(with_kernel > 0);
}
