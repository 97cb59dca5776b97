#pragma once
// Shared test helpers: random inputs, gradient-check assertions, GPU skipping.
#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "engine/autograd/functions.h"
#include "engine/autograd/gradcheck.h"
#include "engine/ops/functional.h"
#include "opcases/op_cases.h"

namespace engine::testing {

// Deterministic random f64 tensors on the CPU (opcases/op_cases.h): normal, uniform, and
// distinct values (a shuffled grid), so that max/top-k ties and kinks are far from the
// finite-difference step.
using opcases::distinct64;
using opcases::randn64;
using opcases::uniform64;

// Max |a - b| / max(1, max|b|): the normalised error used by parity tests.
double normalized_error(const Tensor& a, const Tensor& b);

// fn() run under each of two environment settings ("NAME=value", opcases::EnvScope), as
// {under a, under b}: a fast path beside its reference.
template <class Fn>
std::pair<Tensor, Tensor> under_both(const std::string& a, const std::string& b, Fn fn) {
  Tensor first, second;
  {
    opcases::EnvScope env({a});
    first = fn();
  }
  {
    opcases::EnvScope env({b});
    second = fn();
  }
  return {first, second};
}

// Ops covered by GRAD_TEST cases in this executable.
std::set<OpKind>& grad_tested_ops();
bool register_grad_test(OpKind op);

// A whole file's bytes ("" when it cannot be read), and writing them back.
std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& bytes);

// Runs a shell command with its stdout and stderr captured (through a temporary file
// in the temporary folder).
struct ShellRun {
  int rc = -1;  // the exit code; -1 when it did not exit normally
  std::string output;
};
ShellRun run_shell(const std::string& command);

// An empty folder <build dir>/e2e_scratch/<name> for a test's files (an old one of
// that name is removed first).
std::string fresh_scratch_dir(const std::string& name);

// Rows of a CSV file (no quoting), the header included.
std::vector<std::vector<std::string>> read_csv(const std::string& path);

// A run directory's metrics.csv without its timing columns (img_per_s, wall_s): what two
// runs of the same training must share.
std::vector<std::vector<std::string>> metrics_without_timing(const std::string& run_dir);

// Exits the test process with code 77 (ctest: skipped) when no CUDA device is usable.
void require_cuda();

}  // namespace engine::testing

#define ENGINE_TEST_CONCAT2(a, b) a##b
#define ENGINE_TEST_CONCAT(a, b) ENGINE_TEST_CONCAT2(a, b)
// A gradient test for an op of the table: registers the op as covered and opens a
// Catch2 test case tagged [grad].
#define GRAD_TEST(opkind, name)                                                                                     \
  static const bool ENGINE_TEST_CONCAT(engine_grad_reg_, __LINE__) = ::engine::testing::register_grad_test(opkind); \
  TEST_CASE(name, "[grad]")

// Runs gradcheck and asserts it passed and that the op under test was exercised.
#define CHECK_GRAD(opkind, fn, inputs, ...)                                                                    \
  do {                                                                                                         \
    ::engine::GradCheckResult engine_gc_ = ::engine::gradcheck(fn, inputs, ##__VA_ARGS__);                     \
    INFO(::engine::op_name(opkind) << ": checked " << engine_gc_.checked << ", skipped " << engine_gc_.skipped \
                                   << ", max error " << engine_gc_.max_error << "; " << engine_gc_.message);   \
    CHECK(engine_gc_.ok);                                                                                      \
    CHECK(engine_gc_.checked > 0);                                                                             \
    CHECK(engine_gc_.saw(opkind));                                                                             \
  } while (0)
