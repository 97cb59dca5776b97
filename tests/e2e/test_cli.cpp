// The apps' command lines, run as a user would: --help everywhere, and numbers parsed
// whole and in range (the parser itself is tested in tests/config/test_cli.cpp).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "test_util.h"

using namespace engine;

namespace {

struct Run {
  int rc = -1;
  std::string output;
};

Run run_app(const std::string& app, const std::string& args) {
  static int counter = 0;
  std::string log = std::string(ENGINE_BINARY_DIR) + "/test_cli_" + std::to_string(getpid()) + "_" +
                    std::to_string(counter++) + ".log";
  std::string cmd = std::string(ENGINE_BINARY_DIR) + "/" + app + " " + args + " >" + log + " 2>&1";
  int rc = std::system(cmd.c_str());
  Run r;
  r.rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  r.output = ss.str();
  std::remove(log.c_str());
  return r;
}

}  // namespace

TEST_CASE("every app answers --help and -h with its usage and exit code 0", "[e2e]") {
  for (const char* app : {"train_app", "eval_app", "report_app", "encode_app", "bench_train", "bench_moe",
                          "bench_kernels", "bench_encode"})
    for (const char* flag : {"--help", "-h"}) {
      Run r = run_app(app, flag);
      INFO(app << " " << flag << ": " << r.output);
      CHECK(r.rc == 0);
      CHECK(r.output.find("usage") != std::string::npos);
    }
}

TEST_CASE("a number the apps cannot use is an error naming the option, exit code 2", "[e2e]") {
  struct Case {
    const char* app;
    const char* args;
    const char* expect;
  };
  for (Case c : {Case{"bench_train", "cfg.json --batch abc", "--batch expects an integer in [1, 1048576], got 'abc'"},
                 Case{"bench_train", "cfg.json --iters 2x", "--iters expects an integer"},
                 Case{"bench_train", "cfg.json --warmup -1", "--warmup expects an integer in [0, 1000000]"},
                 Case{"bench_moe", "--T 12abc", "--T expects an integer"},
                 Case{"bench_kernels", "--device x", "--device expects an integer in [0, 1023], got 'x'"},
                 Case{"eval_app", "run --corruption-images -5", "--corruption-images expects an integer in [1, "},
                 Case{"eval_app", "run --seed -1", "--seed expects an integer in [0, "},
                 Case{"eval_app", "run --bins 10x", "--bins expects an integer"},
                 Case{"train_app", "--resume", "option --resume needs a value (a run directory)"},
                 Case{"train_app", "cfg.json --set", "option --set needs a value (key.path=value)"},
                 Case{"train_app", "--resume /nonexistent/run", "--resume /nonexistent/run: no such run directory"},
                 Case{"eval_app", "/nonexistent/run", "'/nonexistent/run' does not exist: expected a run directory"},
                 Case{"eval_app", ENGINE_SOURCE_DIR "/configs/quickstart_fashion_mnist.json",
                      "is neither a run directory nor a .safetensors checkpoint"}}) {
    Run r = run_app(c.app, c.args);
    INFO(c.app << " " << c.args << ": " << r.output);
    CHECK(r.rc == 2);
    CHECK(r.output.find(c.expect) != std::string::npos);
  }
}
