// apps/common/cli.h: numbers typed on a command line, and the apps' error exit. (The apps themselves are run by
// tests/e2e/test_cli.cpp: the sanitizer build has no apps.)
#include <iostream>
#include <new>
#include <sstream>
#include <stdexcept>

#include "apps/common/cli.h"
#include "engine/io/config.h"
#include "test_util.h"

using namespace engine;

TEST_CASE("parse_int takes the whole text within its range, and says what it expected", "[config]") {
  int64_t v = 0;
  std::string error;
  CHECK(app::parse_int("42", 1, 100, &v, &error));
  CHECK(v == 42);
  CHECK(app::parse_int("-5", -10, 10, &v, &error));
  CHECK(v == -5);
  for (const char* bad : {"", "abc", "2x", " 3", "3 ", "1e3", "0x10", "101", "0", "99999999999999999999999"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(app::parse_int(bad, 1, 100, &v, &error));
    CHECK(error == "an integer in [1, 100], got '" + std::string(bad) + "'");
  }
}

TEST_CASE("run_guarded turns what an app throws into one message and its exit code", "[config]") {
  std::ostringstream err;
  std::streambuf* old = std::cerr.rdbuf(err.rdbuf());
  int ok = app::run_guarded("x_app", [] { return 0; });
  int config = app::run_guarded("x_app", []() -> int { ENGINE_CONFIG_CHECK(false, "config key 'a.b' is bad"); });
  int error = app::run_guarded("x_app", []() -> int { ENGINE_THROW("the file 'f' is damaged"); });
  int oom = app::run_guarded("x_app", []() -> int { throw std::bad_alloc(); });
  int other = app::run_guarded("x_app", []() -> int { throw std::out_of_range("vector::at"); });
  std::cerr.rdbuf(old);
  CHECK(ok == 0);
  CHECK(config == 2);
  CHECK(error == 1);
  CHECK(oom == 1);
  CHECK(other == 1);
  std::string text = err.str();
  CHECK(text.find("x_app: configuration error: config key 'a.b' is bad\n") != std::string::npos);
  CHECK(text.find("x_app: error: the file 'f' is damaged\n") != std::string::npos);
  CHECK(text.find("x_app: out of host memory: an allocation failed") != std::string::npos);
  CHECK(text.find("std::bad_alloc") == std::string::npos);
  CHECK(text.find("x_app: error: vector::at\n") != std::string::npos);
}
