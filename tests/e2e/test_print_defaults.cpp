// `train_app --print-defaults` as a user runs it, and README.md's configuration table,
// which must be what `--print-defaults --markdown` prints.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "apps/common/config_schema.h"
#include "apps/common/train_config.h"
#include "test_util.h"

using namespace engine;

namespace {

struct Run {
  int rc = -1;
  std::string out, err;
};

// Runs `command` through the shell with stdout and stderr kept apart.
Run run(const std::string& command) {
  static int counter = 0;
  std::string base = std::string(ENGINE_BINARY_DIR) + "/test_print_defaults_" + std::to_string(getpid()) + "_" +
                     std::to_string(counter++);
  int rc = std::system((command + " >" + base + ".out 2>" + base + ".err").c_str());
  Run r;
  r.rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = testing::read_text(base + ".out");
  r.err = testing::read_text(base + ".err");
  std::remove((base + ".out").c_str());
  std::remove((base + ".err").c_str());
  return r;
}

const std::string kTrainApp = std::string(ENGINE_BINARY_DIR) + "/train_app";
const std::string kBegin = "<!-- config-table:begin -->\n", kEnd = "<!-- config-table:end -->\n";

// The text between the marker lines, or "<no ...>" naming the marker that is missing.
std::string marked_table(const std::string& readme) {
  size_t begin = readme.find(kBegin);
  if (begin == std::string::npos) return "<no " + kBegin + ">";
  begin += kBegin.size();
  size_t end = readme.find(kEnd, begin);
  if (end == std::string::npos) return "<no " + kEnd + ">";
  return readme.substr(begin, end - begin);
}

}  // namespace

TEST_CASE("train_app --print-defaults prints the default config, --describe and --markdown the schema", "[e2e]") {
  Run r = run(kTrainApp + " --print-defaults");
  INFO(r.err);
  REQUIRE(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(io::Json::parse(r.out) == app::default_train_config());

  r = run(kTrainApp + " --print-defaults --describe");
  REQUIRE(r.rc == 0);
  io::Json described = io::Json::parse(r.out);
  CHECK(described.size() == app::config_schema().size());
  CHECK(described["training.lr"]["default"] == 0.1);
  CHECK(described["training.lr"]["values"] == "(0, 100)");
  CHECK(described["training.lr"]["description"] == app::config_key("training.lr").description);

  r = run(kTrainApp + " --markdown --print-defaults");
  REQUIRE(r.rc == 0);
  CHECK(r.out.rfind("| key | default | values | description |\n", 0) == 0);

  struct Misuse {
    const char* args;
    const char* expect;
  };
  for (Misuse m : {Misuse{"--markdown", "--markdown goes with --print-defaults"},
                   Misuse{"--print-defaults --describe --markdown", "give --describe or --markdown, not both"},
                   Misuse{"--print-defaults cfg.json", "--print-defaults takes no config file, --resume or --set"},
                   Misuse{"--print-defaults --set training.lr=1", "--print-defaults takes no config file"}}) {
    r = run(kTrainApp + " " + m.args);
    INFO(m.args << ": " << r.err);
    CHECK(r.rc == 2);
    CHECK(r.err.find(m.expect) != std::string::npos);
    CHECK(r.out.empty());
  }
  r = run(kTrainApp + " --help");
  CHECK(r.err.find("--print-defaults [--describe | --markdown]") != std::string::npos);
}

TEST_CASE("README.md's configuration table is what train_app --print-defaults --markdown prints", "[e2e]") {
  const std::string readme_path = std::string(ENGINE_SOURCE_DIR) + "/README.md";
  const std::string readme = testing::read_text(readme_path);
  Run r = run(kTrainApp + " --print-defaults --markdown");
  REQUIRE(r.rc == 0);
  INFO("README.md's table between " << kBegin << "and " << kEnd
                                    << "differs from what `build/train_app --print-defaults --markdown` prints; "
                                       "regenerate it with: scripts/update_config_table.sh build");
  CHECK(marked_table(readme) == r.out);

  // The script rewrites only the table: on a copy of README.md it changes nothing else.
  REQUIRE(readme.find(kBegin) != std::string::npos);
  REQUIRE(readme.find(kEnd) != std::string::npos);
  std::string copy = std::string(ENGINE_BINARY_DIR) + "/test_print_defaults_README_" + std::to_string(getpid());
  std::ofstream(copy) << readme.substr(0, readme.find(kBegin) + kBegin.size()) << "stale\n"
                      << readme.substr(readme.find(kEnd));
  Run s = run(std::string(ENGINE_SOURCE_DIR) + "/scripts/update_config_table.sh " + ENGINE_BINARY_DIR + " " + copy);
  INFO(s.err);
  CHECK(s.rc == 0);
  std::string updated = testing::read_text(copy);
  std::remove(copy.c_str());
  CHECK(marked_table(updated) == r.out);
  CHECK(updated.substr(0, updated.find(kBegin)) == readme.substr(0, readme.find(kBegin)));
  CHECK(updated.substr(updated.find(kEnd)) == readme.substr(readme.find(kEnd)));
}
