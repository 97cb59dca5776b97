// Runner 2 of the op-case table (opcases/): every gradient check of a case, in f64 on
// the CPU, with the case's first differentiable op required in the analytic graph. Each
// case with gradient checks registers that op as covered for test_grad_coverage.cpp.
#include "opcases/op_cases.h"
#include "test_util.h"

using namespace engine;
using namespace engine::opcases;

namespace {

OpKind grad_op(const OpCase& c) {
  for (OpKind op : c.ops)
    if (op_is_differentiable(op)) return op;
  return c.ops.front();
}

const bool g_registered = [] {
  for (const OpCase& c : op_cases())
    if (!c.grads.empty()) testing::register_grad_test(grad_op(c));
  return true;
}();

void run_family(const std::string& family) {
  int checks = 0;
  for (const OpCase& c : op_cases()) {
    if (c.family != family) continue;
    OpKind op = grad_op(c);
    for (size_t i = 0; i < c.grads.size(); ++i) {
      const GradSpec& g = c.grads[i];
      GradCheckResult r = gradcheck(g.fn, g.inputs(), g.options);
      INFO(family << ": " << c.name << ", gradient check " << i << " of " << op_name(op) << ": checked " << r.checked
                  << ", skipped " << r.skipped << ", max error " << r.max_error << "; " << r.message);
      CHECK(r.ok);
      CHECK(r.checked > 0);
      CHECK(r.saw(op));
      ++checks;
    }
  }
  CHECK(checks > 0);
}

}  // namespace

#define GRAD_FAMILY(fam) \
  TEST_CASE("grad checks of the op cases: " fam, "[grad]") { run_family(fam); }

GRAD_FAMILY("elementwise")
GRAD_FAMILY("reduce")
GRAD_FAMILY("linalg")
GRAD_FAMILY("conv")
GRAD_FAMILY("norm_pool")
GRAD_FAMILY("softmax")
GRAD_FAMILY("index")
GRAD_FAMILY("moe")
GRAD_FAMILY("norm_act")
GRAD_FAMILY("transformer")
