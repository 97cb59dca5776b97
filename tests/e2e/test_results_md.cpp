// RESULTS.md at the repository root is report_app's output for the run summaries in
// results/: regenerated here (results/regenerate.sh on a copy), it must equal the
// committed file.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_util.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {}  // namespace

TEST_CASE("RESULTS.md is what report_app writes from the committed run summaries", "[e2e]") {
  std::string src = ENGINE_SOURCE_DIR, copy = std::string(ENGINE_BINARY_DIR) + "/e2e_scratch/results_md";
  fs::remove_all(copy);
  fs::create_directories(copy);
  fs::copy(src + "/results", copy + "/results", fs::copy_options::recursive);
  std::string cmd = "ENGINE_ROOT=" + copy + " REPORT_APP=" + std::string(ENGINE_BINARY_DIR) + "/report_app sh " + copy +
                    "/results/regenerate.sh >" + copy + "/log.txt 2>&1";
  int rc = std::system(cmd.c_str());
  INFO(testing::read_text(copy + "/log.txt"));
  REQUIRE(WIFEXITED(rc));
  REQUIRE(WEXITSTATUS(rc) == 0);
  std::string committed = testing::read_text(src + "/RESULTS.md"),
              regenerated = testing::read_text(copy + "/RESULTS.md");
  INFO("RESULTS.md differs from report_app's output for results/: run `sh results/regenerate.sh` and commit it");
  CHECK(regenerated == committed);
  CHECK(committed.find("| MoE |") != std::string::npos);
  CHECK(fs::exists(copy + "/RESULTS_curves.png"));
}
