// Runner 1 of the op-case table (opcases/): every case on each non-CPU device against
// the CPU, device allocations poisoned (0xFF bytes: NaN in every float dtype) so that an
// output element a kernel forgets to write fails the comparison. One test per family;
// a failure names the case, the dtype and the output. On the simulated device
// (ENGINE_CUDA=SIM) the [cuda] tests run on the CPU; without a device they exit 77.
#include <chrono>
#include <iostream>

#include "engine/backends/cuda/context.h"
#include "engine/core/backend.h"
#include "engine/core/dispatch.h"
#include "opcases/op_cases.h"
#include "test_util.h"

using namespace engine;
using namespace engine::opcases;

namespace {

bool runs_on(const OpCase& c, DeviceType dev) {
  if (c.dtypes.empty() || !c.run) return false;
  for (OpKind op : c.ops)
    if (!has_kernel(op, dev)) return false;
  return true;
}

void run_family(const std::string& family) {
  testing::require_cuda();
  runtime::cuda_set_poison_allocations(true);
  runtime::cuda_set_tf32(false);
  const Device dev = Device::cuda(0);
  int cases = 0, runs = 0;
  for (const OpCase& c : op_cases()) {
    if (c.family != family || !runs_on(c, dev.type)) continue;
    ++cases;
    auto start = std::chrono::steady_clock::now();
    for (DType d : c.dtypes) {
      ++runs;
      std::string failures;
      try {
        failures = run_parity(c, d, dev);
      } catch (const std::exception& e) {
        failures = std::string("threw: ") + e.what();
      }
      INFO(family << ": " << c.name << " [" << dtype_name(d) << "]\n" << failures);
      CHECK(failures.empty());
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (s > 2.0) std::cout << family << ": " << c.name << " took " << s << " s" << std::endl;
  }
  std::cout << family << ": " << cases << " cases, " << runs << " runs on " << dev.str() << std::endl;
  CHECK(cases > 0);
}

const std::vector<std::string> kFamilies = {"elementwise", "reduce",  "linalg",     "conv",  "norm_pool",
                                            "norm_act",    "softmax", "index",      "optim", "amp",
                                            "moe",         "augment", "transformer"};

}  // namespace

TEST_CASE("op cases: every family of the table has a parity test", "[ops]") {
  for (const std::string& f : families()) {
    INFO("family " << f);
    CHECK(std::find(kFamilies.begin(), kFamilies.end(), f) != kFamilies.end());
  }
}

#define PARITY_FAMILY(fam) \
  TEST_CASE("op parity on CUDA against the CPU: " fam, "[cuda][ops]") { run_family(fam); }

PARITY_FAMILY("elementwise")
PARITY_FAMILY("reduce")
PARITY_FAMILY("linalg")
PARITY_FAMILY("conv")
PARITY_FAMILY("norm_pool")
PARITY_FAMILY("norm_act")
PARITY_FAMILY("softmax")
PARITY_FAMILY("index")
PARITY_FAMILY("optim")
PARITY_FAMILY("amp")
PARITY_FAMILY("moe")
PARITY_FAMILY("augment")
PARITY_FAMILY("transformer")
